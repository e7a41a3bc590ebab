"""Each fix in :mod:`mmssl_kd.compat`: the failure on today's stack, then the
fix (``shared/design/stack.md`` items 1 to 4)."""
import builtins
import ctypes
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from mmengine.config import Config
from mmengine.config.utils import ConfigParsingError
from mmengine.model import BaseModel, BaseModule
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
from mmpretrain.datasets.transforms import ColorJitter as MMPretrainColorJitter
from torch import nn

from mmssl_kd import compat
from mmssl_kd.compat import (
    CorruptCheckpointError,
    UntrustedCheckpointError,
    adjust_hue,
    check_config_file,
    load_checkpoint_file,
    trust_checkpoints,
    untrust_all,
)
from mmssl_kd.datasets.transforms import ColorJitter
from mmssl_kd.registry import TRANSFORMS

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------
# 1. checkpoints


class TinyModel(BaseModel):
    """A linear regressor, enough for a real MMEngine checkpoint."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(3, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.fc(inputs)
        if mode == 'loss':
            return {'loss': ((out - targets)**2).mean()}
        return out


def tiny_runner(work_dir: Path, name: str, max_epochs: int,
                **kwargs) -> Runner:
    """A Runner on 4 samples, batch 2: 2 iterations per epoch."""
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(3, generator=gen), torch.randn(1, generator=gen))
            for _ in range(4)]
    return Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        experiment_name=name,  # several runners within one second
        train_dataloader=dict(
            dataset=data, batch_size=2,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmssl_kd',
        randomness=dict(seed=0),
        **kwargs)


@pytest.fixture(scope='module')
def mmengine_checkpoint(tmp_path_factory) -> Path:
    """``epoch_1.pth`` saved by a Runner after 2 iterations."""
    work_dir = tmp_path_factory.mktemp('ckpt_run')
    tiny_runner(work_dir, 'make_ckpt', max_epochs=1).train()
    return work_dir / 'epoch_1.pth'


class _RunsCode:
    """Unpickling this runs ``source`` (what a malicious checkpoint does)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return builtins.exec, (self.source,)


def save_code_running_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint whose loading creates ``marker``."""
    torch.save({'state_dict': {'fc.weight': torch.zeros(1, 3)},
                'payload': _RunsCode(f'open({str(marker)!r}, "w").close()')},
               path)
    return path


@pytest.fixture(autouse=True)
def no_trusted_files():
    yield
    untrust_all()


@pytest.fixture
def loader_calls(monkeypatch) -> list:
    """Record every file that goes through ``load_checkpoint_file``."""
    calls = []

    def spy(filename, map_location=None):
        calls.append(str(filename))
        return load_checkpoint_file(filename, map_location)

    monkeypatch.setattr(compat, 'load_checkpoint_file', spy)
    return calls


def test_plain_weights_only_load_fails(mmengine_checkpoint):
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(mmengine_checkpoint, weights_only=True)
    # and so does MMEngine's own local-file loader, which compat replaces
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        load_from_local(str(mmengine_checkpoint), map_location='cpu')


def test_load_checkpoint_file_loads_mmengine_checkpoint(mmengine_checkpoint):
    ckpt = load_checkpoint_file(str(mmengine_checkpoint), map_location='cpu')
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(ckpt)
    assert ckpt['meta']['iter'] == 2
    assert ckpt['state_dict']['fc.weight'].shape == (1, 3)


def test_checkpoint_from_numpy_1_loads(mmengine_checkpoint, tmp_path):
    """numpy 1 pickles its helpers as ``numpy.core.multiarray.*``."""
    old = tmp_path / 'numpy1.pth'
    with zipfile.ZipFile(mmengine_checkpoint) as src, \
            zipfile.ZipFile(old, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith('/data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
            dst.writestr(name, data)
    ckpt = load_checkpoint_file(str(old))
    new = load_checkpoint_file(str(mmengine_checkpoint))
    assert torch.equal(ckpt['state_dict']['fc.weight'],
                       new['state_dict']['fc.weight'])


def test_legacy_format_is_read_when_mapping_is_asked(tmp_path):
    """torch cannot map a file of its legacy (pre-zip) format, such as the
    CIFAR ResNet .th teachers: it is read instead."""
    path = tmp_path / 'legacy.th'
    torch.save({'state_dict': {'w': torch.arange(3.)}}, path,
               _use_new_zipfile_serialization=False)
    loaded = load_checkpoint_file(str(path), mmap=True)
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_mmengine_loaders_go_through_compat(mmengine_checkpoint,
                                            loader_calls):
    path = str(mmengine_checkpoint)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert loader_calls == [path]

    # the path of `load_from` and init_cfg=dict(type='Pretrained')
    model = TinyModel()
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.fc.weight, ckpt['state_dict']['fc.weight'])
    assert len(loader_calls) == 2

    pretrained = TinyModel(
        init_cfg=dict(type='Pretrained', checkpoint=path))
    assert isinstance(pretrained, BaseModule)
    pretrained.init_weights()
    assert torch.equal(pretrained.fc.weight, ckpt['state_dict']['fc.weight'])
    assert loader_calls == [path] * 3


def test_runner_resume_goes_through_compat(mmengine_checkpoint, tmp_path,
                                           loader_calls):
    runner = tiny_runner(tmp_path, 'resume', max_epochs=2,
                         load_from=str(mmengine_checkpoint), resume=True)
    runner.train()
    assert loader_calls == [str(mmengine_checkpoint)]
    assert runner.iter == 4  # 2 resumed + 2 trained


def test_code_running_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = save_code_running_checkpoint(tmp_path / 'evil.pth', marker)
    with pytest.raises(UntrustedCheckpointError, match='exec') as err:
        load_checkpoint_file(str(path))
    assert '--trust-checkpoint' in str(err.value)
    # the way every MMEngine path loads a file refuses it too
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint(TinyModel(), str(path))
    assert not marker.exists()


def test_trust_only_the_named_file(tmp_path):
    marker_a, marker_b = tmp_path / 'ran_a', tmp_path / 'ran_b'
    path_a = save_code_running_checkpoint(tmp_path / 'a.pth', marker_a)
    path_b = save_code_running_checkpoint(tmp_path / 'b.pth', marker_b)

    trust_checkpoints([str(path_a)])
    ckpt = load_checkpoint_file(str(path_a))
    assert marker_a.exists()  # loaded the unsafe way: the payload ran
    assert torch.equal(ckpt['state_dict']['fc.weight'], torch.zeros(1, 3))

    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(str(path_b))
    assert not marker_b.exists()

    untrust_all()
    marker_a.unlink()
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(str(path_a))
    assert not marker_a.exists()


# Crafted pickles, written opcode by opcode (protocol 2, as torch.save), from
# the globals the safe loader allows: torch's defaults and SAFE_GLOBALS.


class Global:
    """``GLOBAL module name``: what the unpickler looks up."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name


class Call:
    """``func(*args)``: REDUCE."""

    def __init__(self, func, *args):
        self.func, self.args = func, args


class New:
    """``cls.__new__(cls)``: NEWOBJ."""

    def __init__(self, cls):
        self.cls = cls


class Build:
    """``obj`` given ``state``: BUILD (``__setstate__`` or ``__dict__``)."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


def opcodes(value) -> bytes:
    """The protocol-2 opcodes that rebuild ``value`` (plain data and the
    classes above)."""
    if isinstance(value, Global):
        return b'c%s\n%s\n' % (value.module.encode(), value.name.encode())
    if isinstance(value, Call):
        return opcodes(value.func) + opcodes(value.args) + b'R'
    if isinstance(value, New):
        return opcodes(value.cls) + b')\x81'
    if isinstance(value, Build):
        return opcodes(value.obj) + opcodes(value.state) + b'b'
    if value is None or isinstance(value, bool):
        return {None: b'N', True: b'\x88', False: b'\x89'}[value]
    if isinstance(value, int):
        data = pickle.encode_long(value)
        return b'\x8a' + bytes([len(data)]) + data
    if isinstance(value, str):
        data = value.encode()
        return b'X' + struct.pack('<I', len(data)) + data
    if isinstance(value, bytes):  # as protocol 2 pickles bytes
        return opcodes(Call(Global('_codecs', 'encode'),
                            value.decode('latin1'), 'latin1'))
    if isinstance(value, tuple):
        return b'(' + b''.join(map(opcodes, value)) + b't'
    if isinstance(value, list):
        return b'](' + b''.join(map(opcodes, value)) + b'e'
    if isinstance(value, dict):
        return b'}(' + b''.join(opcodes(k) + opcodes(v)
                                for k, v in value.items()) + b'u'
    raise TypeError(value)


def save_pickle(path: Path, value) -> Path:
    """A torch.save zip file whose data.pkl rebuilds ``value``."""
    torch.save({}, path)
    with zipfile.ZipFile(path) as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, 'w') as archive:
        for name, data in records.items():
            if name.endswith('/data.pkl'):
                data = b'\x80\x02' + opcodes(value) + b'.'
            archive.writestr(name, data)
    return path


GETATTR = Global('builtins', 'getattr')
HISTORY_BUFFER = Global('mmengine.logging.history_buffer', 'HistoryBuffer')
DTYPE = Global('numpy', 'dtype')
NDARRAY = Global('numpy', 'ndarray')
RECONSTRUCT = Global('numpy._core.multiarray', '_reconstruct')
SCALAR = Global('numpy._core.multiarray', 'scalar')
TENSOR = Global('torch', 'Tensor')
ORDERED_DICT = Global('collections', 'OrderedDict')


def call_any(func, *args, returns=TENSOR):
    """``func(*args)`` through torch's default-allowed
    ``_rebuild_from_type_v2``, which calls whatever it is given (the result
    must be of type ``returns``)."""
    return Call(Global('torch._tensor', '_rebuild_from_type_v2'), func,
                returns, args, {})


def writes_marker(marker: Path) -> str:
    """Python that creates ``marker`` and evaluates to a tensor, so that a
    load that runs it succeeds."""
    return (f"(open({str(marker)!r}, 'w').close(), "
            "__import__('torch').zeros(1, 3))[1]")


def eval_gadget(marker: Path):
    """The reported exploit: builtins from ``getattr(getattr, '__self__')``,
    ``eval`` from those, called by ``_rebuild_from_type_v2``: with a
    generic getattr allowed, loading it runs the code and gives back a
    tensor."""
    builtins_module = Call(GETATTR, GETATTR, '__self__')
    evaluate = Call(GETATTR, builtins_module, 'eval')
    return {'state_dict': {'backbone.fc.weight':
                           call_any(evaluate, writes_marker(marker))}}


def numpy_dtype(code: str, state=None):
    """``numpy.dtype(code, False, True)`` rebuilt with ``state`` (numpy's
    own for a plain dtype by default), as numpy pickles a dtype."""
    order = '|' if np.dtype(code).itemsize == 1 else '<'
    return Build(Call(DTYPE, code, False, True),
                 state or (3, order, None, None, None, -1, -1, 0))


def numpy_array(dtype, shape: tuple, data: bytes):
    return Build(Call(RECONSTRUCT, NDARRAY, (0, ), b'b'),
                 (1, shape, dtype, False, data))


def history_buffer_state(**changes) -> dict:
    state = dict(max_length=10,
                 _log_history=numpy_array(numpy_dtype('f8'), (1, ),
                                          np.float64(0.5).tobytes()),
                 _count_history=numpy_array(numpy_dtype('i8'), (1, ),
                                            np.int64(1).tobytes()),
                 statistics_methods={
                     name: Call(GETATTR, HISTORY_BUFFER, name)
                     for name in ('min', 'max', 'current', 'mean')})
    state.update(changes)
    return state


@pytest.fixture
def secret() -> ctypes.Array:
    """Memory no checkpoint should be able to read."""
    return ctypes.create_string_buffer(b'SECRET', 6)


def reads_memory(address: int):
    """An OrderedDict whose ``__array_interface__`` attribute (set by
    BUILD, as torch allows for OrderedDict) points ``np.array`` at
    ``address``."""
    return Build(Call(ORDERED_DICT), {'__array_interface__': {
        'shape': (6, ), 'typestr': '|u1', 'data': (address, False),
        'version': 3}})


def test_eval_gadget_runs_code_unless_refused(tmp_path):
    """The reported exploit: the safe loader refuses it where plain
    ``torch.load(weights_only=True)`` does (it allowed any getattr)."""
    marker = tmp_path / 'ran'
    path = save_pickle(tmp_path / 'gadget.pth', eval_gadget(marker))
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL getattr'):
        torch.load(path, weights_only=True)
    assert not marker.exists()
    with pytest.raises(UntrustedCheckpointError,
                       match=r"getattr\(getattr, '__self__'\)") as err:
        load_checkpoint_file(str(path))
    assert not marker.exists()
    assert 'getattr(HistoryBuffer, NAME)' in str(err.value)
    # the gadget is a working one: trusted, it runs
    trust_checkpoints([str(path)])
    loaded = load_checkpoint_file(str(path))
    assert marker.exists()
    assert loaded['state_dict']['backbone.fc.weight'].shape == (1, 3)


def history_buffer_attribute(name: str):
    return Call(GETATTR, HISTORY_BUFFER, name)


# Each: a pickle using one allowed global beyond its checkpoint form, and a
# part of the refusal's message.  Under the old allow-list (any getattr, the
# real HistoryBuffer, numpy.dtype and the per-dtype classes, ndarray,
# _reconstruct and scalar) most of them loaded: functions, module globals,
# a HistoryBuffer holding the bytes at a memory address, dtypes with forged
# fields, an array of object pointers made from bytes; the others failed
# with torch's or numpy's own errors, after running what their arguments
# ran (scalar-object: the eval gadget).
def chains(marker: Path, address: int) -> dict:
    min_function = history_buffer_attribute('min')
    return {
        # getattr beyond getattr(HistoryBuffer, statistic)
        'getattr-init-globals': (
            Call(GETATTR, history_buffer_attribute('__init__'),
                 '__globals__'), r"getattr\(HistoryBuffer, '__init__'\)"),
        'getattr-class': (history_buffer_attribute('__class__'),
                          "'__class__'"),
        'getattr-subclasses': (history_buffer_attribute('__subclasses__'),
                               "'__subclasses__'"),
        'getattr-register': (history_buffer_attribute('register_statistics'),
                             "'register_statistics'"),
        'getattr-statistic-globals': (Call(GETATTR, min_function,
                                           '__globals__'),
                                      r"getattr\(a function object"),
        'getattr-numpy': (Call(GETATTR, NDARRAY, 'tofile'),
                          r"getattr\(ndarray, 'tofile'\)"),
        'getattr-dtype': (Call(GETATTR, numpy_dtype('f8'), 'type'),
                          r"getattr\(a _DTypeState object, 'type'\)"),
        'getattr-scalar': (
            Call(GETATTR, Call(SCALAR, numpy_dtype('f8'), bytes(8)),
                 '__class__'), r'getattr\(a float64 object'),
        'statistic-called-by-reduce': (
            Call(min_function, Build(Call(ORDERED_DICT), {})),
            'unrecognized function'),
        # HistoryBuffer: called, or a state that is not its own
        'history-buffer-call-reads-memory': (
            Call(HISTORY_BUFFER, reads_memory(address),
                 reads_memory(address)), r'HistoryBuffer\(\.\.\.\)'),
        'history-buffer-call-by-rebuild': (
            call_any(HISTORY_BUFFER, [], []), r'HistoryBuffer\(\.\.\.\)'),
        'history-buffer-foreign-method': (
            Build(New(HISTORY_BUFFER), history_buffer_state(
                statistics_methods={'mean': GETATTR})),
            'statistics_methods'),
        'history-buffer-method-renamed': (
            Build(New(HISTORY_BUFFER), history_buffer_state(
                statistics_methods={'evil': min_function})),
            'statistics_methods'),
        'history-buffer-extra-key': (
            Build(New(HISTORY_BUFFER), history_buffer_state(
                __array_interface__={})), 'HistoryBuffer state'),
        'history-buffer-history-not-array': (
            Build(New(HISTORY_BUFFER), history_buffer_state(
                _log_history=reads_memory(address))),
            'numpy array without its data'),
        'history-buffer-without-state': (New(HISTORY_BUFFER),
                                         'HistoryBuffer without its state'),
        # numpy dtypes: another kind, or rebuilt with a forged state
        'dtype-object': (numpy_dtype('O'), r"numpy.dtype\('O', "),
        'dtype-structured': (Call(DTYPE, [('a', 'O')], False, True),
                             r'numpy.dtype\(a list object'),
        'dtype-forged-object-field': (
            numpy_dtype('f8', (3, '|', None, ('a', ),
                               {'a': (numpy_dtype('f8'), 0)}, 8, 1, 0)),
            'dtype state'),
        'dtype-forged-subarray': (
            numpy_dtype('f8', (3, '<', (numpy_dtype('f8'), (1000, )), None,
                               None, 8, 8, 0)), 'dtype state'),
        'dtype-forged-flags': (
            numpy_dtype('f8', (3, '<', None, None, None, -1, -1, 63)),
            'dtype state'),
        'dtype-class': (Call(Global('numpy.dtypes', 'ObjectDType')),
                        'needs the global numpy.dtypes.ObjectDType'),
        # numpy arrays and scalars beyond numpy's own pickles
        'array-object-pointers': (
            numpy_array(numpy_dtype('O'), (1, ), bytes(8)),
            r"numpy.dtype\('O', "),
        'array-short-data': (numpy_array(numpy_dtype('f8'), (1000, ),
                                         bytes(8)), 'exactly its bytes'),
        'array-constructor': (Call(NDARRAY, (1, ), 'O'),
                              r'numpy.ndarray\(\.\.\.\)'),
        'reconstruct-subtype': (
            Call(RECONSTRUCT, HISTORY_BUFFER, (0, ), b'b'),
            r"_reconstruct\(HistoryBuffer, \(0,\)"),
        'scalar-object': (Call(SCALAR, numpy_dtype('O'), eval_gadget(marker)),
                          r"numpy.dtype\('O', "),
        'scalar-short-data': (Call(SCALAR, numpy_dtype('f8'), b'\x00'),
                              'its bytes'),
    }


CHAINS = list(chains(Path(), 0))


@pytest.mark.parametrize('chain', CHAINS)
def test_chains_from_allowed_globals_are_refused(chain, tmp_path, secret):
    marker = tmp_path / 'ran'
    value, message = chains(marker, ctypes.addressof(secret))[chain]
    path = save_pickle(tmp_path / f'{chain}.pth', {'meta': value})
    with pytest.raises(pickle.UnpicklingError, match=message) as err:
        load_checkpoint_file(str(path))
    assert isinstance(err.value, UntrustedCheckpointError)
    assert f'--trust-checkpoint {path}' in str(err.value)
    assert not marker.exists()


def test_history_buffer_and_numpy_rebuilt_as_plain_objects(tmp_path):
    """What the stand-ins give back: a real HistoryBuffer, numpy arrays,
    dtypes and scalars, wherever they are; saving them again writes no
    stand-in."""
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer([1.0, 3.0], [1, 1])
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    big_endian = np.arange(3, dtype='>i4')
    torch.save({'buffer': buffer, 'arrays': [fortran, (big_endian, )],
                'dtype': np.dtype('c8'), 'scalar': np.bool_(True),
                'shared': (fortran, fortran)}, tmp_path / 'numpy.pth')
    loaded = load_checkpoint_file(str(tmp_path / 'numpy.pth'))
    assert type(loaded['buffer']) is HistoryBuffer
    assert loaded['buffer'].mean() == 2.0
    assert loaded['buffer'].statistics('max') == 3.0
    array, (swapped, ) = loaded['arrays']
    assert type(array) is np.ndarray and array.flags.f_contiguous
    np.testing.assert_array_equal(array, fortran)
    np.testing.assert_array_equal(swapped, big_endian)
    # as numpy itself unpickles protocol 2: in native byte order
    assert swapped.dtype == pickle.loads(pickle.dumps(big_endian, 2)).dtype
    assert loaded['dtype'] == np.dtype('c8')
    assert type(loaded['scalar']) is np.bool_ and loaded['scalar']
    assert loaded['shared'][0] is loaded['shared'][1]
    buffer = io.BytesIO()
    torch.save(loaded, buffer)
    assert b'mmssl_kd' not in buffer.getvalue()


def test_mmengine_checkpoint_history_buffers_are_plain(mmengine_checkpoint):
    from mmengine.logging import HistoryBuffer
    hub = load_checkpoint_file(str(mmengine_checkpoint))['message_hub']
    loss = hub['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer and len(loss.data[0]) == 2
    assert loss.statistics('mean') == loss.mean()
    assert type(hub['runtime_info']['eta']) is np.float64


# ---------------------------------------------------------------------------
# Damaged files and what the refusal advises


@pytest.fixture
def damaged(mmengine_checkpoint, tmp_path) -> dict:
    """Broken copies of a good checkpoint."""
    data = mmengine_checkpoint.read_bytes()
    record = data.find(b'statistics_methods')
    flipped = bytearray(data)
    flipped[record] ^= 0x01
    files = {'empty': b'', 'cut in half': data[:len(data) // 2],
             'first bytes only': data[:10], 'flipped byte': bytes(flipped),
             'text': b'not a checkpoint\n', 'html': b'<html>404</html>'}
    for name, content in files.items():
        (tmp_path / f'{name}.pth').write_bytes(content)
    return {name: str(tmp_path / f'{name}.pth') for name in files}


@pytest.mark.parametrize('name', ['empty', 'cut in half', 'first bytes only',
                                  'flipped byte', 'text', 'html'])
def test_damaged_file_is_named_and_not_to_be_trusted(damaged, name):
    with pytest.raises(CorruptCheckpointError,
                       match='is incomplete or corrupt') as err:
        load_checkpoint_file(damaged[name])
    assert repr(damaged[name]) in str(err.value)
    assert 'trust' not in str(err.value)
    if name == 'empty':
        assert '(0 bytes)' in str(err.value)


def test_protocol_4_names_the_opcode(tmp_path):
    torch.save({'w': torch.zeros(2)}, tmp_path / 'p4.pth', pickle_protocol=4)
    with pytest.warns(UserWarning, match='pickle protocol 4'), \
            pytest.raises(UntrustedCheckpointError,
                          match='pickle opcode FRAME of pickle protocol 4'):
        load_checkpoint_file(str(tmp_path / 'p4.pth'))


def test_refused_file_in_a_tool_exits_with_the_message(tmp_path):
    """The gadget through a tool, as a user runs it: a nonzero exit with the
    refusal, no code run, nothing written."""
    marker = tmp_path / 'ran'
    path = save_pickle(tmp_path / 'gadget.pth', eval_gadget(marker))
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    run = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/'
                             'extract_backbone.py'), str(path),
         str(tmp_path / 'backbone.pth')], cwd=tmp_path, env=env,
        capture_output=True, text=True,
        timeout=600)  # a hang guard, not a speed check
    assert run.returncode == 1, run.stdout + run.stderr
    assert 'UntrustedCheckpointError' in run.stderr
    assert "getattr(getattr, '__self__')" in run.stderr
    assert not marker.exists() and not (tmp_path / 'backbone.pth').exists()


def test_urls_go_through_the_safe_loader(tmp_path, monkeypatch):
    """``http(s)://`` (and torchvision:// ...), which MMEngine unpickles in
    full: downloaded into torch.hub's cache, then loaded safely."""
    marker = tmp_path / 'ran'
    source = save_pickle(tmp_path / 'gadget.pth', eval_gadget(marker))
    downloads = []

    def download(url, dst, progress=True):
        downloads.append(url)
        shutil.copy(source, dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    url = 'https://example.com/models/gadget.pth'
    with pytest.raises(UntrustedCheckpointError, match='__self__'):
        load_checkpoint(TinyModel(), url)
    with pytest.raises(UntrustedCheckpointError, match='__self__'):
        TinyModel(init_cfg=dict(type='Pretrained',
                                checkpoint=url)).init_weights()
    assert downloads == [url]  # then from the cache
    assert (tmp_path / 'hub' / 'checkpoints' / 'gadget.pth').is_file()
    assert not marker.exists()


# ---------------------------------------------------------------------------
# 3. hue jitter under numpy 2


def random_bgr(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3),
                                                dtype=np.uint8)


@pytest.fixture
def mmssl_kd_scope():
    init_default_scope('mmssl_kd')


def test_mmcv_adjust_hue_overflows_for_negative_factor():
    with pytest.raises(OverflowError, match='out of bounds for uint8'):
        mmcv.adjust_hue(random_bgr(0), -0.1)


def test_mmpretrain_color_jitter_fails_on_some_seeds():
    jitter = MMPretrainColorJitter(hue=0.1)
    failures = 0
    for seed in range(20):
        np.random.seed(seed)
        try:
            jitter({'img': random_bgr(seed)})
        except OverflowError:
            failures += 1
    assert failures > 0


def test_registry_builds_the_fixed_color_jitter(mmssl_kd_scope):
    jitter = TRANSFORMS.build(dict(type='ColorJitter', hue=0.1))
    assert type(jitter) is ColorJitter
    parent = TRANSFORMS.build(dict(type='mmpretrain.ColorJitter', hue=0.1))
    assert type(parent) is MMPretrainColorJitter


def test_fixed_color_jitter_inside_multiview_and_random_apply(mmssl_kd_scope):
    multiview = TRANSFORMS.build(
        dict(type='MultiView', num_views=2, transforms=[[
            dict(type='RandomApply', prob=1.0,
                 transforms=[dict(type='ColorJitter', hue=0.1)])
        ]]))
    random_apply = multiview.pipelines[0].transforms[0]
    assert type(random_apply.transforms.transforms[0]) is ColorJitter
    for seed in range(20):
        np.random.seed(seed)
        views = multiview({'img': random_bgr(seed)})['img']
        assert len(views) == 2


@pytest.mark.filterwarnings('ignore:Only use .alpha. for pillow backend')
def test_fixed_color_jitter_never_fails(mmssl_kd_scope):
    jitter = TRANSFORMS.build(
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.5))
    for seed in range(200):
        np.random.seed(seed)
        img = random_bgr(seed, size=8)
        out = jitter({'img': img})['img']
        assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize('factor', [0.02, 0.1, 0.3, 0.5])
def test_adjust_hue_equals_mmcv_for_positive_factors(factor):
    img = random_bgr(1)
    np.testing.assert_array_equal(adjust_hue(img, factor),
                                  mmcv.adjust_hue(img, factor))


def torchvision_hue(img_bgr: np.ndarray, factor: float) -> np.ndarray:
    """torchvision's exact (float HSV) hue shift, on a BGR uint8 image."""
    rgb = torch.from_numpy(np.ascontiguousarray(img_bgr[..., ::-1]))
    out = TF.adjust_hue(rgb.permute(2, 0, 1), factor).permute(1, 2, 0)
    return out.numpy()[..., ::-1]


@pytest.mark.parametrize('factor', [-0.5, -0.3, -0.1, -0.02])
def test_adjust_hue_shifts_for_negative_factors(factor):
    img = random_bgr(2, size=32)
    ours = adjust_hue(img, factor).astype(int)
    expected = torchvision_hue(img, factor).astype(int)
    # OpenCV quantises hue to 256 levels: a few levels off at most
    assert np.abs(ours - expected).mean() < 2
    assert np.abs(ours - expected).max() <= 16
    assert np.abs(ours - img).mean() > 4  # a real shift, not a no-op


def test_adjust_hue_turns_pure_red_blue_and_green():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 2] = 255  # BGR
    np.testing.assert_allclose(adjust_hue(red, -1 / 3)[0, 0], [255, 0, 0],
                               atol=8)  # 0 - 120 degrees: blue
    np.testing.assert_allclose(adjust_hue(red, 1 / 3)[0, 0], [0, 255, 0],
                               atol=8)  # 0 + 120 degrees: green


def test_adjust_hue_rejects_bad_factor():
    with pytest.raises(ValueError):
        adjust_hue(random_bgr(0), 0.6)


# ---------------------------------------------------------------------------
# 2 and 4. configs


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('text, error', [
    ("import os\n_base_ = './plain.py'\nb = 2\n", ConfigParsingError),
    ("import os\nb = os.path.join('x', 'y')\n", RuntimeError),
], ids=['with_base', 'using_import'])
def test_config_with_import_fails_and_is_flagged(tmp_path, text, error):
    write(tmp_path / 'plain.py', 'a = 1\n')
    path = write(tmp_path / 'with_import.py', text)
    with pytest.raises(error):
        Config.fromfile(path)
    with pytest.raises(ValueError, match='import statement'):
        check_config_file(path)


PKG_BASE = "_base_ = 'mmpretrain::_base_/default_runtime.py'\nb = 2\n"


def test_package_base_config_fails_without_pkg_resources(tmp_path):
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip('pkg_resources is importable here (setuptools < 82), so '
                    'the failure cannot be reproduced')
    path = write(tmp_path / 'pkg_base.py', PKG_BASE)
    with pytest.raises(ModuleNotFoundError, match='pkg_resources'):
        Config.fromfile(path)


def test_package_base_config_is_flagged(tmp_path):
    path = write(tmp_path / 'pkg_base.py', PKG_BASE)
    with pytest.raises(ValueError, match="'package::' base"):
        check_config_file(path)


def test_plain_config_passes(tmp_path):
    write(tmp_path / 'base.py', "default_scope = 'mmssl_kd'\na = 1\n")
    path = write(
        tmp_path / 'plain.py',
        "_base_ = './base.py'\n"
        "# import os would break it; values from outside use substitution:\n"
        "home = '{{$HOME:/tmp}}'\n"
        "b = dict(type='ColorJitter', hue=0.1)\n")
    check_config_file(path)
    cfg = Config.fromfile(path)
    assert cfg.a == 1 and cfg.b.hue == 0.1 and cfg.home
