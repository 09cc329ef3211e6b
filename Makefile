# The two commands of the README: `make serve` and `make test`. Both install what they need first.
DBDIR ?= ./jobd-db
FSADDR ?= 127.0.0.1:5640
PYTEST_ARGS ?=

.PHONY: serve test install install-test lint typecheck bench

serve: install
	jobd --dbdir $(DBDIR) --fsaddr $(FSADDR)

test: install-test
	python3 -m pytest $(PYTEST_ARGS)

install:
	bash tools/install.sh

install-test:
	bash tools/install.sh --test

lint: install-test
	ruff check .

typecheck: install-test
	mypy

bench: install-test
	python3 -m bench
