# Short name of sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py:
#   bash tools/dist_train.sh configs/sdssl/vit-s.py 8
_base_ = ['./sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py']
