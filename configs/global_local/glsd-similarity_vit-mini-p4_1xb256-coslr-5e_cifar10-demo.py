# CPU demo of the similarity-matching baseline: the geometric demo it
# inherits with EsViT's matching (argmax cosine of backbone tokens, no
# mask).
_base_ = ['./glsd-geometric_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py']

model = dict(matching='similarity')
