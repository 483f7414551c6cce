"""s3prl upstream for SemiSupCon encoders.

Importing this module applies :mod:`semisupcon_recipe.interop.s3prl_compat` and then
imports s3prl, so ``S3PRLUpstream`` and ``s3prl.problem`` work on the pinned stack.
"""

from semisupcon_recipe.interop import s3prl_compat

s3prl_compat.apply()

import s3prl.hub  # noqa: E402  (must follow the compatibility shims)

__all__ = ["s3prl"]
