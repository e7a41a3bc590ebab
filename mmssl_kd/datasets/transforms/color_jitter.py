"""``ColorJitter`` that works with numpy 2 and ``hue > 0`` (stack.md
item 3)."""
import mmcv
from mmpretrain.datasets.transforms import (
    ColorJitter as _MMPretrainColorJitter,
)

from mmssl_kd.compat import adjust_hue
from mmssl_kd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ColorJitter(_MMPretrainColorJitter):
    """MMPretrain's ``ColorJitter`` with a numpy-2-safe hue shift.

    Registered under the same name in the ``mmssl_kd`` scope, so configs keep
    writing ``dict(type='ColorJitter', ...)``; arguments and the random order
    of the four adjustments are MMPretrain's (torchvision semantics).
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 0 and brightness is not None:
                img = mmcv.adjust_brightness(img, brightness,
                                             backend=self.backend)
            elif index == 1 and contrast is not None:
                img = mmcv.adjust_contrast(img, contrast, backend=self.backend)
            elif index == 2 and saturation is not None:
                img = mmcv.adjust_color(img, alpha=saturation,
                                        backend=self.backend)
            elif index == 3 and hue is not None:
                img = adjust_hue(img, hue)
        results['img'] = img
        return results
