"""Packaging for semisupcon-recipe.

The torch / torchaudio pair is pinned to one official matched release (the one the GPU
machines run); SpeechBrain and s3prl are pinned to the versions the compatibility layer
in ``semisupcon_recipe.interop.s3prl_compat`` was written against.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

CORE = [
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "speechbrain==1.1.2",
    "hyperpyyaml==1.2.3",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "soundfile==0.14.0",
    "soxr==1.1.0",
    "webdataset==1.0.2",
    "scikit-learn==1.9.1",
    "mir_eval==0.8.2",
    "pedalboard==0.9.26",
    "safetensors==0.8.0",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "librosa==0.11.0",  # the demo's handcrafted-features baseline (MFCC, chroma, spectral contrast)
    "threadpoolctl==3.8.0",  # the demo fixes numpy's BLAS thread count (demo.models.fix_threads)
]

# s3prl and the optional packages its ``s3prl.problem`` task API imports.
S3PRL = [
    "s3prl==0.4.18",
    "pandas==3.1.1",
    "tensorboard==2.21.0",
    "editdistance==0.8.1",
    "more-itertools==11.2.1",
    "sed_eval==0.2.1",
    "dcase_util==0.2.20",
]

TEST = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
]

setup(
    name="semisupcon-recipe",
    version="0.1.0",
    description=(
        "Semi-supervised contrastive learning of music representations "
        "(SemiSupCon, ISMIR 2024) for SpeechBrain and s3prl"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["semisupcon_recipe", "semisupcon_recipe.*"]),
    package_data={"semisupcon_recipe": ["**/*.yaml"]},
    install_requires=CORE,
    extras_require={"s3prl": S3PRL, "test": TEST + S3PRL, "all": TEST + S3PRL},
    entry_points={"console_scripts": ["semisupcon=semisupcon_recipe.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
