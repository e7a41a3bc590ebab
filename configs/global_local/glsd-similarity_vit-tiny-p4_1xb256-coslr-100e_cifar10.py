# EsViT's similarity matching (each student token takes the teacher token
# of highest cosine similarity of backbone features, no mask) in place of
# the geometric one; otherwise the recipe it inherits. Plain DINO for this
# pair is configs/selfsup/dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py.
_base_ = ['./glsd-geometric_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

model = dict(matching='similarity')
