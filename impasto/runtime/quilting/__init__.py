"""Image quilting (Efros & Freeman, SIGGRAPH 2001): texture synthesis and texture transfer, torch-free.

No graph and no network: blocks of a sample texture are chosen by their overlap error
(one FFT correlation per block over every window, :mod:`.matching`) and joined along the
minimum-error boundary cut (dynamic programming, :mod:`.cut`). :mod:`.synthesis` tiles a
new texture of any size; :mod:`.transfer` renders a target image in the texture;
:mod:`.seams` measures how visible the joins are.
"""

from impasto.runtime.quilting.synthesis import QuiltConfig, QuiltResult, quilt_texture
from impasto.runtime.quilting.transfer import TransferConfig, transfer_texture

#: What ``impasto info`` lists for this built-in method (it has no graph).
CARD = {"name": "quilting", "kind": "no graph, torch-free",
        "paper": "Efros & Freeman, Image Quilting for Texture Synthesis and Transfer, SIGGRAPH 2001",
        "command": "impasto quilt TEXTURE -o OUT --size WxH | impasto quilt TEXTURE --transfer TARGET -o OUT",
        "description": "texture synthesis from a sample and texture transfer onto a photo: blocks chosen by "
                       "FFT overlap matching, joined along minimum-error boundary cuts"}

__all__ = ["CARD", "QuiltConfig", "QuiltResult", "TransferConfig", "quilt_texture", "transfer_texture"]
