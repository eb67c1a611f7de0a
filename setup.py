"""scones-mlops: CIFAR image classification on SageMaker, runnable offline on one laptop."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Pins learned the hard way (see README "Why these pins"):
# - stepfunctions 2.3.0 imports only with sagemaker<3 (v3 removed sagemaker.workflow)
#   and needs pkg_resources, which setuptools 82 removed;
# - torch 2.13.0 CPU is the build this project is tested with.
INSTALL_REQUIRES = [
    "sagemaker>=2.257,<2.258",
    "stepfunctions==2.3.0",
    "setuptools<82",
    "boto3>=1.40,<2",
    "moto[server,sagemaker,stepfunctions,s3,events,sns,iam,awslambda]==5.2.5",
    "numpy>=1.26",
    "pillow>=10.3",
    "torch==2.13.0",
    "onnx>=1.16",
    "onnxruntime>=1.18",
    "matplotlib>=3.8",
    "scipy>=1.11",
    "flask>=3",
    # the endpoint's HTTP transport: an event loop, so slow and idle clients hold no worker
    "uvicorn>=0.30,<1",
    "httptools>=0.6",
    "uvloop>=0.19; sys_platform != 'win32'",
]

TEST_REQUIRES = [
    "pytest>=8",
    "pytest-xdist>=3.5",
    "ruff>=0.6",
    "pyyaml>=6",
    "playwright>=1.40",
    "cfn-lint>=1",
    "hypothesis>=6",
    # AWS's PyTorch serving toolkit and TorchServe's Python side: the artifact is tested under them
    "sagemaker-pytorch-inference==2.0.25",
    "torchserve==0.12.0",
    # ... and its training toolkit: training/train.py is run by the container's own `train`
    "sagemaker-training==5.1.4",
    "sagemaker-pytorch-training==3.0.0",
    # the A2I worker task template, rendered in the tests with the Liquid A2I fills it with
    "python-liquid>=2",
    # real images for bench/learning.py and the recipe test: both wheels ship their pixels
    "scikit-learn>=1.4",
    "scikit-image>=0.22",
]

setup(
    name="scones-mlops",
    version="0.1.0",
    description=__doc__,
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.13",
    packages=find_packages(include=["common*", "scones*", "pipelines*", "processing*", "training*",
                                    "inference_workflow*", "lambdas*"]),
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={
        "console_scripts": [
            "scones=scones.cli:main",
            "run-pipeline=scones.run_pipeline:main",
            "get-pipeline-definition=pipelines.get_pipeline_definition:main",
        ],
    },
)
