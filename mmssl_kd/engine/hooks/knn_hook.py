"""Online weighted-kNN accuracy during self-supervised training."""
import copy
from typing import Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import DataLoader

from ...evaluation.knn import knn_evaluate, part_model
from ...registry import HOOKS


@HOOKS.register_module()
class KNNHook(Hook):
    """Weighted kNN (DINO's ``eval_knn``) of the model's features.

    Every ``interval`` epochs, and after the last one (every ``interval``
    iterations with an ``IterBasedTrainLoop``), and once before training if
    ``before_train``, the two dataloaders go through :func:`knn_evaluate`.
    They are built once, with ``runner.build_dataloader``: by the project's
    Runner before the first iteration (so that a missing folder stops the
    run before it trains, :meth:`build_dataloaders`), else on first use.
    A dataset without ``data_root`` (in its innermost ``source`` for a
    device-resident one) reads the training dataset's: moving the training
    data (``--cfg-options train_dataloader.dataset.data_root=...``) moves
    the bank and the queries with it; a ``data_root`` of their own keeps
    them where it says.  The result
    is logged as ``kNN (T=0.07) epoch 3: top1_k10 41.20 ...``, written to the
    visualizer as scalars ``knn/top1_k10``, ... at the current iteration
    (beside the losses), and stored with ``runner.message_hub.update_info``
    under the same keys.  Each further part in ``parts`` (a sub-model with
    a ``backbone``, e.g. DoGo's ``'peer'``) is evaluated on the same
    dataloaders and logged with its name: ``kNN (T=0.07) epoch 3 [peer]:
    ...`` and ``knn/peer/top1_k10``.  With ``blocks``, every part is
    evaluated at each of those blocks of its backbone instead (SDSSL's
    early exits), all blocks from the same forward passes:
    ``[block 3]``, ``knn/block3/top1_k10``.

    Args:
        bank_dataloader: config of the labelled bank ("train") dataloader.
        query_dataloader: config of the labelled query ("val") dataloader.
        interval: epochs (iterations for iteration-based training) between
            evaluations.
        ks: numbers of neighbours.
        temperature: vote temperature ``T``.
        before_train: also evaluate once before the first iteration.
        parts: the sub-models to evaluate; ``'backbone'`` is the trained
            model itself.
        blocks: block numbers (from 1) of a backbone that returns every
            block (``MultiLayerCLSViT``); None: the backbone's last output.
    """
    # after the hooks that update the model (EMA teachers) on the same event,
    # and after the CheckpointHook (VERY_LOW): a failing evaluation must not
    # cost the checkpoint of the epoch (iteration) it follows
    priority = 'LOWEST'

    def __init__(self,
                 bank_dataloader: dict,
                 query_dataloader: dict,
                 interval: int = 1,
                 ks: Sequence[int] = (10, 20, 200),
                 temperature: float = 0.07,
                 before_train: bool = False,
                 parts: Sequence[str] = ('backbone', ),
                 blocks: Optional[Sequence[int]] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if not parts:
            raise ValueError("parts must name at least one sub-model, e.g. "
                             "('backbone', )")
        self.bank_cfg = bank_dataloader
        self.query_cfg = query_dataloader
        self.interval = interval
        self.ks = tuple(ks)
        self.temperature = temperature
        self.eval_before_train = before_train
        self.parts = tuple(parts)
        self.blocks = None if blocks is None else tuple(blocks)
        self._dataloaders: Optional[Tuple[DataLoader, DataLoader]] = None

    def before_train(self, runner) -> None:
        if self.eval_before_train:
            self._evaluate(runner, 'before training', runner.iter)

    def after_train_epoch(self, runner) -> None:
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        if (self.every_n_epochs(runner, self.interval)
                or self.is_last_train_epoch(runner)):
            self._evaluate(runner, f'epoch {runner.epoch + 1}', runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        if (self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            # the loop counts this iteration after the hooks
            self._evaluate(runner, f'iter {runner.iter + 1}', runner.iter + 1)

    def dataloader_cfgs(self, train_dataset: Optional[dict]
                        ) -> Tuple[dict, dict]:
        """The bank and query dataloader configs, a dataset without
        ``data_root`` given that of ``train_dataset`` (the training
        dataloader's dataset config).

        Raises:
            ValueError: a dataset without ``data_root`` and no training
                ``data_root`` to follow.
        """
        root = _innermost(train_dataset).get('data_root')
        cfgs = []
        for name, cfg in (('bank', self.bank_cfg), ('query', self.query_cfg)):
            cfg = copy.deepcopy(cfg)
            dataset = _innermost(cfg.get('dataset'))
            if dataset.get('data_root') is None:
                if root is None:
                    raise ValueError(
                        f'KNNHook: {name}_dataloader.dataset has no '
                        'data_root, and the training dataset has none to '
                        'follow. Set data_root in the hook\'s '
                        f'{name}_dataloader.dataset.')
                dataset['data_root'] = root
            cfgs.append(cfg)
        return cfgs[0], cfgs[1]

    def build_dataloaders(self, runner,
                          train_dataset: Optional[dict]) -> None:
        """Build the bank and query dataloaders of
        :meth:`dataloader_cfgs` (the project's Runner calls this before
        the first iteration)."""
        self._dataloaders = tuple(
            runner.build_dataloader(cfg, seed=runner.seed)
            for cfg in self.dataloader_cfgs(train_dataset))

    def _evaluate(self, runner, when: str, step: int) -> None:
        if self._dataloaders is None:  # a Runner that did not build them
            self.build_dataloaders(
                runner, (runner.cfg.get('train_dataloader') or {}).get(
                    'dataset'))
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        for part in self.parts:
            results = knn_evaluate(
                part_model(model, part), *self._dataloaders, ks=self.ks,
                temperature=self.temperature, blocks=self.blocks)
            for block in self.blocks or [None]:
                prefix = '' if block is None else f'block{block}/'
                self._log(runner, when, step, part, block, {
                    key[len(prefix):]: value
                    for key, value in results.items()
                    if key.startswith(prefix)
                    and '/' not in key[len(prefix):]})

    def _log(self, runner, when: str, step: int, part: str,
             block: Optional[int], results: dict) -> None:
        names = [] if part == 'backbone' else [part]
        names += [] if block is None else [f'block {block}']
        label = f' [{", ".join(names)}]' if names else ''
        prefix = 'knn/' + ''.join(n.replace(' ', '') + '/' for n in names)
        runner.logger.info(
            f'kNN (T={self.temperature}) {when}{label}: ' + '  '.join(
                f'{key} {value:.2f}' for key, value in results.items()))
        scalars = {prefix + key: value for key, value in results.items()}
        runner.visualizer.add_scalars(scalars, step=step)
        for key, value in scalars.items():
            runner.message_hub.update_info(key, value)


def _innermost(dataset) -> dict:
    """The dataset config that lists the files: ``dataset`` itself, or the
    ``source`` of a device-resident one / the ``dataset`` of a wrapper
    (``RepeatDataset``), however deep; ``{}`` for a built dataset or
    None."""
    while isinstance(dataset, dict) and isinstance(
            dataset.get('source', dataset.get('dataset')), dict):
        dataset = dataset.get('source', dataset.get('dataset'))
    return dataset if isinstance(dataset, dict) else {}
