# SEED small-patch variant (official `main_small-patch.py`): per image one
# 224 px crop and six 96 px crops; the small crops have their own queue
# (only the first small crop is enqueued); loss = large + mean over small.
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

model = dict(small_patch=True, num_small_crops=6)
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.small_patch_train_pipeline}}))
