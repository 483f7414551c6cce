"""Reuse a trained encoder from other tools: export, s3prl, HEAR API, SpeechBrain inference.

Nothing here is imported by ``import semisupcon_recipe``; s3prl is only imported by
:mod:`semisupcon_recipe.interop.s3prl`.
"""
