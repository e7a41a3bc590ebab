# SDSSL's optimisation (hagiss/SDSSL SD_*.json, utils.py, pl_train_*.py):
# AdamW, 40 linear warm-up epochs, then cosine to 0, stepped per iteration,
# 300 epochs; weight decay 0.1 constant on every weight but none on biases
# and 1-d parameters (norm scales and shifts), as the official
# `utils.get_params_groups`. MMEngine's rules give the same split here:
# `norm_decay_mult` (LayerNorm, BatchNorm), `bias_decay_mult` (biases),
# `flat_decay_mult` (any other 1-d parameter).
_base_ = ['./adamw_coslr-300e.py']

optim_wrapper = dict(
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                       flat_decay_mult=0.))
