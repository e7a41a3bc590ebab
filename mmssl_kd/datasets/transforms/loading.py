"""``LoadImageFromFile`` whose errors name the image file."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile

from mmssl_kd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """MMCV's ``LoadImageFromFile``; a file that cannot be decoded raises an
    ``OSError`` that names it and says what to do.

    MMCV's own errors do not always say which file: Pillow raises
    ``image file is truncated`` or ``cannot identify image file
    <BytesIO ...>``, OpenCV ``!buf.empty()`` for an empty file (and for a
    truncated or non-image file returns None, which MMCV turns into an
    ``AssertionError``).  In a dataset of a million images, the path is the
    one thing needed.  Registered under the same name in the ``mmssl_kd``
    scope, so configs keep ``dict(type='LoadImageFromFile')``; arguments are
    MMCV's (``ignore_empty=True`` still skips unreadable files).
    """

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError:
            raise  # its message names the file
        except Exception as err:
            raise OSError(
                f'Cannot decode image {path!r} ({type(err).__name__}: '
                f'{err}): the file is empty, truncated or not an image. '
                'Replace it with a good copy, or delete it (the dataset lists '
                'the files when it is built).') from err
