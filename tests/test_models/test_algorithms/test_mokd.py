"""MOKD: the T-Head and its search, each loss term from hand computations,
separate optimizers that move only their own model."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

from mmssl_kd.models.losses import DINOLoss
from mmssl_kd.models.necks import TransformerHead
from mmssl_kd.models.utils import multi_crop_forward
from mmssl_kd.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

K, D = 12, 24


def thead(in_channels, **kwargs):
    return dict(type='TransformerHead', in_channels=in_channels,
                embed_dims=D, out_channels=K, num_blocks=1, num_heads=2,
                grid=(4, 4), **kwargs)


def dino_head(in_channels):
    return dict(type='DINOHead', in_channels=in_channels, out_channels=K,
                hidden_channels=16, bottleneck_channels=8)


def build(cnn_head=True, vit_head=True, drop_path=0.1, **kwargs):
    cfg = dict(
        type='MOKD',
        cnn=dict(backbone=dict(type='CIFARResNet', depth=20),
                 neck=dino_head(64),
                 head=thead(64) if cnn_head else None),
        vit=dict(backbone=dict(type='VisionTransformer',
                               arch=dict(embed_dims=D, num_layers=2,
                                         num_heads=2,
                                         feedforward_channels=48),
                               img_size=16, patch_size=4, out_type='raw',
                               drop_path_rate=drop_path),
                 neck=dino_head(D),
                 head=thead(D, norm_last_layer=False) if vit_head else None),
        loss=dict(type='DINOLoss', out_channels=K, teacher_temp=0.07,
                  warmup_teacher_temp=0.04),
        cnn_warmup_epochs=50, vit_warmup_epochs=30)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def crops(batch=2, local=2):
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, 16, 16, generator=gen) for _ in range(2)] \
        + [torch.randn(batch, 3, 8, 8, generator=gen) for _ in range(local)]


def soft_ce(target_logits, student_logits, t_tau, s_tau=0.1):
    """Mean over rows of -sum p log q, written out."""
    total = 0.
    for t_row, s_row in zip(target_logits.tolist(), student_logits.tolist()):
        t_exp = [torch.tensor(v / t_tau).exp().item() for v in t_row]
        s_exp = [torch.tensor(v / s_tau).exp().item() for v in s_row]
        p = [e / sum(t_exp) for e in t_exp]
        log_q = [torch.tensor(e / sum(s_exp)).log().item() for e in s_exp]
        total -= sum(a * b for a, b in zip(p, log_q))
    return total / len(target_logits)


def test_thead_search_prepends_and_drops_the_query():
    """With a query: the blocks see [q; tokens + pos], the query's output is
    dropped and the rest averaged; a 2 x 2 grid gets the bicubically
    resized 4 x 4 position embedding."""
    torch.manual_seed(0)
    head = TransformerHead(8, embed_dims=D, out_channels=K, num_blocks=2,
                           num_heads=2, grid=(4, 4))
    head.init_weights()
    raw = torch.randn(3, 16, 8)
    logits, tokens = head(raw)
    torch.testing.assert_close(tokens, head.proj(raw))
    query = torch.randn(3, D)
    x = torch.cat([query[:, None], tokens + head.pos_embed], dim=1)
    expected = head.last_layer(head.norm(head.blocks(x))[:, 1:].mean(1))
    torch.testing.assert_close(head.attend(tokens, query=query), expected)
    plain = head.last_layer(
        head.norm(head.blocks(tokens + head.pos_embed)).mean(1))
    torch.testing.assert_close(logits, plain)
    assert head(torch.randn(3, 4, 8))[0].shape == (3, K)  # a 2 x 2 grid
    with pytest.raises(ValueError, match='square'):
        head(torch.randn(3, 6, 8))


def test_search_target_shapes_and_no_gradient():
    model = build()
    teacher_tokens = torch.randn(2, 16, D)
    queries = torch.randn(3 * 2, D, requires_grad=True)
    target = model.search_target(model.peer_teacher, teacher_tokens, queries)
    assert target.shape == (6, K) and target.grad_fn is None
    # local crop i of image b searches image b's tokens
    one = model.peer_teacher.module.head.attend(
        teacher_tokens[1:2], query=queries[3:4].detach())
    torch.testing.assert_close(target[3:4], one)


def test_each_term_from_the_modules():
    """Each term equals its definition computed from the networks' own
    outputs: DINO losses against fresh DINOLoss instances, the search term
    written out (softmax of the peer teacher's search at the ViT teacher
    temperature, student at 0.1), times lambda. No drop-path, so that the
    teachers (copies of the students at the first update) equal them."""
    model = build(lambdas=(1.0, 0.1), drop_path=0.)
    inputs = crops()
    losses = model(inputs, mode='loss')
    assert set(losses) == {
        f'{name}_{m}' for m in (1, 2) for name in (
            'loss_mlp', 'loss_thead', 'loss_cross', 'loss_search')}
    with torch.no_grad():
        students = [multi_crop_forward(model.cnn(), inputs),
                    multi_crop_forward(model.peer, inputs)]
        # the first update copies the students, so teachers = students
        teachers = [s[:2] for s in students]
    for m, (own, peer) in enumerate(((0, 1), (1, 0)), start=1):
        out = [[c[i] for c in students[own]] for i in range(4)]
        own_t = [[c[i] for c in teachers[own]] for i in range(4)]
        peer_t = [[c[i] for c in teachers[peer]] for i in range(4)]
        assert [c.logits for c in students[own]] == out[0]  # named fields
        lam = model.lambdas[own]
        expected = dict(
            loss_mlp=DINOLoss(K)(out[0], own_t[0], 0.04),
            loss_thead=DINOLoss(K)(out[1], own_t[1], 0.04),
            loss_cross=lam * DINOLoss(K)(out[0], peer_t[0], 0.04))
        for name, value in expected.items():
            assert losses[f'{name}_{m}'].item() == pytest.approx(
                value.item(), rel=1e-5), (name, m)
        # the search, by hand: peer teacher's T-Head on [q; tokens(g1)]
        peer_net = (model.peer_teacher, model.teacher)[own].module
        targets = torch.cat([
            peer_net.head.attend(peer_t[2][0], query=q)
            for q in out[3][2:]])
        student_logits = torch.cat(out[1][2:])
        by_hand = lam * soft_ce(targets, student_logits, t_tau=0.04)
        assert losses[f'loss_search_{m}'].item() == pytest.approx(
            by_hand, rel=1e-4)
    # six centres, each moved by its own teacher outputs
    centres = {name: loss.center for name, loss in model.losses.items()}
    assert len(centres) == 6
    torch.testing.assert_close(
        centres['cross_1'],
        0.1 * torch.cat([c[0] for c in teachers[1]]).mean(0, keepdim=True))


def test_ablations_leave_terms_out():
    independent = build(cnn_head=False, vit_head=False, lambdas=(0., 0.),
                        search=False)
    losses = independent(crops(), mode='loss')
    assert set(losses) == {'loss_mlp_1', 'loss_mlp_2'}
    no_search = build(search=False)
    assert not any('search' in k for k in no_search(crops(), mode='loss'))
    with pytest.raises(ValueError, match='needs a T-Head'):
        build(cnn_head=False)


def test_teacher_temperature_schedules_per_model():
    """CNN self-distillation: 50 warm-up epochs; ViT, cross, search: 30."""
    model = build()
    MessageHub.get_current_instance().update_info('epoch', 15)
    model(crops(), mode='loss')
    assert model.step_values['teacher_temp_1'] == pytest.approx(
        0.04 + 0.03 * 15 / 49)
    assert model.step_values['teacher_temp_2'] == pytest.approx(
        0.04 + 0.03 * 15 / 29)


def test_each_optimizer_moves_only_its_model():
    """train_step with SGD for the CNN and AdamW for the ViT: with one of
    the two learning rates at 0, only the other model's weights move; the
    teachers move only by their EMA."""
    for frozen in ('cnn', 'vit'):
        torch.manual_seed(0)
        model = build()
        lrs = dict(cnn=0.1, vit=1e-3)
        lrs[frozen] = 0.
        ctor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='PartsOptimWrapperConstructor', optim_wrapper_cfg=dict(
                cnn=dict(optimizer=dict(type='SGD', lr=lrs['cnn'],
                                        momentum=0.9, weight_decay=1e-4)),
                vit=dict(optimizer=dict(type='AdamW', lr=lrs['vit'],
                                        weight_decay=0.04)))))
        optim = ctor(model)
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        data = dict(inputs=[c for c in crops()], data_samples=None)
        MessageHub.get_current_instance().update_info('max_iters', 10)
        log_vars = model.train_step(data, optim)
        assert {'loss_1', 'loss_2'} <= set(log_vars)
        moved = {k for k, v in model.named_parameters()
                 if not torch.equal(v, before[k])
                 and not k.startswith(('teacher.', 'peer_teacher.'))}
        cnn = {k for k in moved if k.startswith(('backbone.', 'neck.',
                                                 'head.'))}
        vit = {k for k in moved if k.startswith('peer.')}
        assert moved == cnn | vit
        # the teachers were not stepped: the first step copied the students
        # from before the step, and the EMA update after it moved them by
        # the momentum towards the stepped students
        teacher = dict(model.teacher.module.named_parameters())
        after = dict(model.named_parameters())
        momentum = model.teacher.current_momentum(1)
        for k, v in teacher.items():
            if k.startswith('backbone.'):
                torch.testing.assert_close(
                    v, before[k] * (1 - momentum) + after[k] * momentum)
        assert (not cnn) == (frozen == 'cnn')
        assert (not vit) == (frozen == 'vit')


def test_teachers_have_no_drop_path_and_knn_parts():
    from mmssl_kd.evaluation.knn import SubModelFeatures
    model = build()
    assert all(m.drop_prob == 0 for m in model.peer_teacher.modules()
               if hasattr(m, 'drop_prob'))
    x = torch.randn(2, 3, 16, 16)
    for part in ('peer', 'teacher', 'peer_teacher'):
        feats = SubModelFeatures(model, part).extract_feat(x)
        assert feats is not None
    vit_feats = SubModelFeatures(model, 'peer').extract_feat(x)
    assert vit_feats[0].shape == (2, 1 + 16, D)  # [CLS] first: kNN takes it


def test_ablation_starts_from_the_same_weights():
    """Same seed, then init_weights as the Runner does: both backbones and
    DINO heads are equal in MOKD and in the two-independent-DINOs ablation
    (a paired comparison)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')
    params = []
    for ablation in (False, True):
        torch.manual_seed(0)
        kwargs = dict(cnn_head=False, vit_head=False, lambdas=(0., 0.),
                      search=False) if ablation else {}
        model = build(**kwargs)
        params.append({k: v for k, v in model.named_parameters()
                       if k.startswith(('backbone.', 'neck.',
                                        'peer.backbone.', 'peer.neck.'))})
    assert params[0].keys() == params[1].keys()
    for key, value in params[0].items():
        assert torch.equal(value, params[1][key]), key


@pytest.mark.parametrize('part', ['peer', 'peer_teacher.module'])
def test_vit_and_its_teacher_export_as_plain_backbones(part):
    """extract_backbone's `extract` pulls the ViT (or its EMA teacher) out
    of a MOKD state dict; it loads strictly into a bare ViT and gives the
    same features."""
    import importlib.util
    from pathlib import Path
    tool_path = Path(__file__).resolve().parents[3] / \
        'tools/model_converters/extract_backbone.py'
    spec = importlib.util.spec_from_file_location('extract_backbone',
                                                  tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    model = build()
    model(crops(), mode='loss')  # the first step: teacher = student
    weights = tool.extract(model.state_dict(), part)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        vit = MODELS.build(dict(type='VisionTransformer',
                                arch=dict(embed_dims=D, num_layers=2,
                                          num_heads=2,
                                          feedforward_channels=48),
                                img_size=16, patch_size=4, out_type='raw'))
    vit.load_state_dict(weights, strict=True)
    vit.eval()
    source = model.peer.backbone if part == 'peer' else \
        model.peer_teacher.module.backbone
    source.eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(vit(x)[0], source(x)[0])


def separate_ddp_worker(rank, out_dir):
    """Two train steps of MOKD under MMSeparateDistributedDataParallel (one
    DDP per part), different images on each rank."""
    from mmengine.model import MMSeparateDistributedDataParallel
    MessageHub.get_instance('ddp').update_info('max_iters', 2)
    model = build()
    wrapped = MMSeparateDistributedDataParallel(model)
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='PartsOptimWrapperConstructor', optim_wrapper_cfg=dict(
            cnn=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            vit=dict(optimizer=dict(type='AdamW', lr=1e-3)))))(model)
    for step in range(2):
        torch.manual_seed(10 * step + rank)
        data = dict(inputs=[torch.randn_like(c) for c in crops()],
                    data_samples=None)
        log_vars = wrapped.train_step(data, optim)
    state = {name.replace('.module.', '.', 1) if name.split('.')[0] in
             ('backbone', 'neck', 'head', 'peer') else name: v.detach()
             for name, v in model.state_dict().items()}
    torch.save(dict(state=state, loss=log_vars['loss']),
               out_dir / f'rank{rank}.pt')


def test_separate_ddp_keeps_models_teachers_and_centres_in_sync(
        tmp_path, gloo):
    """After steps on different images, both ranks hold the same students,
    EMA teachers and six centres (all-reduced), and the students moved.
    (BatchNorm running statistics are per rank without SyncBN.)"""
    gloo.spawn(separate_ddp_worker, tmp_path, world_size=2)
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    assert results[0]['loss'] != results[1]['loss']  # different data
    state = results[0]['state']
    assert sum(k.startswith('losses.') for k in state) == 6
    for key, value in state.items():
        if 'running_' not in key and 'num_batches_tracked' not in key:
            torch.testing.assert_close(value, results[1]['state'][key],
                                       msg=key)
    start = build().state_dict()
    assert not torch.equal(state['peer.backbone.cls_token'],
                           start['peer.backbone.cls_token'])
    assert not torch.equal(state['backbone.conv1.weight'],
                           start['backbone.conv1.weight'])


def bicubic_matrix(n_in: int, n_out: int, scale: float) -> torch.Tensor:
    """(n_out, n_in) weights of 1-D bicubic resizing as PyTorch defines it
    for ``scale_factor=scale``, ``align_corners=False``: output i samples
    the input at x = (i + 0.5) / scale - 0.5 with Keys' cubic kernel
    (a = -0.75) on its four neighbours, indices clamped to the border."""
    a = -0.75

    def kernel(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
        if d < 2:
            return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
        return 0.

    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        x = (i + 0.5) / scale - 0.5
        x0 = int(torch.tensor(x).floor())
        for k in range(x0 - 1, x0 + 3):
            w[i, min(max(k, 0), n_in - 1)] += kernel(x - k)
    return w


@pytest.mark.parametrize('side', [2, 3, 6])
def test_thead_position_embedding_resized_as_official(side):
    """A 4 x 4 position embedding on a side x side grid: bicubic with the
    official scale factor (side + 0.1) / 4 (mokd backbones/
    vision_transformer.py, THead interpolate_pos_encoding), from the
    weights written out; MMEngine-style ``size=`` resizing is further off
    than rounding."""
    torch.manual_seed(0)
    head = TransformerHead(D, embed_dims=D, out_channels=K, num_blocks=1,
                           num_heads=2, grid=(4, 4))
    head.pos_embed.data.normal_()
    w = bicubic_matrix(4, side, (side + 0.1) / 4)
    grid = head.pos_embed.detach().double().reshape(4, 4, D)
    expected = torch.einsum('ia,jb,abd->ijd', w, w, grid).reshape(
        1, side * side, D)
    ours = head._pos_embed(side * side).detach().double()
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)
    w_size = bicubic_matrix(4, side, side / 4)
    by_size = torch.einsum('ia,jb,abd->ijd', w_size, w_size, grid).reshape(
        1, side * side, D)
    assert (by_size - expected).abs().max() > 1e-2


def test_cnn_query_is_taken_before_the_position_embedding():
    """The CNN's search query is the mean of its 1x1-projected tokens
    without the position embedding (official THead_CNN.prepare_tokens:
    ``x_pool = avgpool(patch_embed(x))`` before the embedding is added)."""
    model = build()
    model.head.pos_embed.data.fill_(1.)  # far from a zero-mean embedding
    x = torch.randn(2, 3, 16, 16)
    out = model.cnn()(x)
    tokens, query = out.tokens, out.query
    fmap = model.backbone(x)[-1]
    raw = fmap.flatten(2).transpose(1, 2)
    torch.testing.assert_close(query, model.head.proj(raw).mean(1))
    torch.testing.assert_close(tokens, model.head.proj(raw))


def test_cnn_thead_teacher_temperature_warms_up_over_50_epochs():
    """The CNN's T-Head loss uses the CNN's 50-epoch warm-up (official
    main_mokd.py: the T-Head loss of the CNN takes
    warmup_teacher_temp_epochs_cnn), not the ViT's 30: its value is a
    DINOLoss at 0.04 + 0.03 * 15 / 49 on the T-Head outputs."""
    model = build(drop_path=0.)
    MessageHub.get_current_instance().update_info('epoch', 15)
    inputs = crops()
    losses = model(inputs, mode='loss')
    with torch.no_grad():
        student = multi_crop_forward(model.cnn(), inputs)
    thead = [c.thead for c in student]
    temp = 0.04 + 0.03 * 15 / 49
    assert model.losses['thead_1'].teacher_temp_at(15) == pytest.approx(temp)
    expected = DINOLoss(K)(thead, thead[:2], temp)
    vit_schedule = DINOLoss(K)(thead, thead[:2], 0.04 + 0.03 * 15 / 29)
    assert losses['loss_thead_1'].item() == pytest.approx(expected.item(),
                                                          rel=1e-5)
    assert abs(expected.item() - vit_schedule.item()) > 1e-3


def test_recipes_convert_students_and_teachers_to_syncbn():
    """The MOKD recipes set ``sync_bn='torch'`` (official main_mokd.py
    converts student and teacher CNN); MMEngine's Runner makes that
    conversion in a distributed run before wrapping the model. Made here on
    a small MOKD: every BN of the CNN, its EMA teacher included, becomes
    SyncBatchNorm, and the EMA keeps following the student (the converted
    layers hold the same parameter tensors)."""
    import glob

    from mmengine.model import convert_sync_batchnorm
    from torch.nn.modules.batchnorm import _BatchNorm

    from mmssl_kd.cli import load_config
    paths = glob.glob('configs/mokd/*.py')
    assert paths
    for path in paths:
        assert load_config(path).get('sync_bn') == 'torch', path
    model = convert_sync_batchnorm(build(), 'torch')
    bns = {name: type(m) for name, m in model.named_modules()
           if isinstance(m, _BatchNorm)}
    assert any(n.startswith('backbone.') for n in bns)
    assert any(n.startswith('teacher.module.backbone.') for n in bns)
    assert set(bns.values()) == {torch.nn.SyncBatchNorm}
    name = 'backbone.bn1.weight'
    teacher = dict(model.teacher.module.named_parameters())
    assert model.teacher.avg_parameters[name] is teacher[name]
    model(crops(), mode='loss')  # the first step copies the student
    with torch.no_grad():
        dict(model.named_parameters())[name].add_(1.)
    before = teacher[name].detach().clone()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model.end_step({})  # the update after the optimizer step
    assert not torch.equal(teacher[name], before)
