#!/usr/bin/env bash
# The oldest supported stack (docs/install.md): a fresh venv with torch 2.4.1 and huggingface_hub
# 0.36 installed first, then the avpet wheel with its test extra over them. Fails unless torch is
# unchanged by the wheel, then runs the tests that exercise torch and the Hub client there.
# Usage: tools/ci_oldest.sh VENV_DIR (from the repository root).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: tools/ci_oldest.sh VENV_DIR" >&2; exit 2; }
venv="$1"
python3 -m venv "$venv"
pip="$venv/bin/pip"
python="$venv/bin/python"
"$pip" install -q torch==2.4.1 "huggingface_hub==0.36.*"
before=$("$python" -c "import torch; print(torch.__version__)")
rm -rf "$venv/wheel"
"$pip" wheel -q --no-deps . -w "$venv/wheel"
wheel=$(ls "$venv"/wheel/avpet-*.whl)
"$pip" install -q "$wheel[test]"
after=$("$python" -c "import torch; print(torch.__version__)")
hub=$("$python" -c "import huggingface_hub; print(huggingface_hub.__version__)")
echo "ci-oldest: torch $before before \`pip install \"$(basename "$wheel")[test]\"\`, $after after;" \
    "huggingface_hub $hub"
[ "$before" = "$after" ] || { echo "ci-oldest: installing the wheel replaced torch" >&2; exit 1; }
# the installed wheel, not the clone's avpet/, is what these tests import
cd tests
"$python" -m pytest -q -p no:cacheprovider --rootdir . -c ../pyproject.toml \
    test_registry.py test_models.py test_factor_linear.py test_data_mel.py \
    test_data_transforms.py test_data_io.py test_hub.py test_hub_push.py test_library_habits.py \
    test_pretrain_config.py test_pretrain_objectives.py test_pretrain_checkpoint.py \
    test_pretrain_cli.py test_extract.py
