# EsViT's similarity matching (each student token takes the teacher token
# of highest cosine similarity of backbone features, no mask) in place of
# the geometric one; otherwise the recipe it inherits.
_base_ = ['./glsd-geometric_swin-tiny-w7_4xb64-coslr-300e_imagenette.py']

model = dict(matching='similarity')
