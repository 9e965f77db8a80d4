"""Install the LCReg toolbox (package ``lcreg``)."""
import os.path as osp
from importlib.metadata import PackageNotFoundError, version

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'lcreg', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def full_mmcv_installed():
    """Whether the full ``mmcv`` distribution (not mmcv-lite) is installed."""
    try:
        version('mmcv')
        return True
    except PackageNotFoundError:
        return False


def read_requirements(name):
    """Requirement lines of ``requirements/<name>``, comments dropped.

    MMCV is needed without its compiled ops, so ``mmcv-lite`` is required
    unless a full ``mmcv`` is already installed (both provide ``mmcv``).
    """
    reqs = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('mmcv-lite') and full_mmcv_installed():
                line = 'mmcv' + line[len('mmcv-lite'):]
            reqs.append(line)
    return reqs


setup(
    name='lcreg',
    version=read_version(),
    description='Long-tailed recognition by learning from latent categories '
    '(LCReg): an MMPretrain plug-in toolbox',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
