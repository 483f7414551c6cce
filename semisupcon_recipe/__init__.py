"""semisupcon_recipe: semi-supervised contrastive learning of music representations.

SemiSupCon (Guinot, Quinton, Fazekas, ISMIR 2024) for SpeechBrain (pretraining, probing)
and s3prl (evaluation). The core library never imports s3prl; the s3prl upstream lives
in :mod:`semisupcon_recipe.interop.s3prl`, which applies the torchaudio compatibility
shims of :mod:`semisupcon_recipe.interop.s3prl_compat` first.
"""

__version__ = "0.1.0"
