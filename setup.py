from setuptools import find_packages, setup

setup(
    name="minstn",
    version="0.1.0",
    description="A from-scratch NumPy/Numba framework for learning Spatial Transformer Networks",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minstn", "minstn.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "numba>=0.58", "scipy>=1.10", "matplotlib>=3.7", "tqdm>=4.60"],
    extras_require={
        # torch only for parity tests and benchmarks; minstn itself never imports it
        "test": ["pytest>=7"],
        "torch": ["torch>=2.0"],
        "bench": ["torch>=2.0"],
    },
)
