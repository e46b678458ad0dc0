# One obvious command per task; CI calls scripts/test.sh (= make test).
.PHONY: serve test lint bench
serve:
	bash scripts/serve.sh
test:
	bash scripts/test.sh
lint:
	python3 -m uv run ruff check . && python3 -m uv run ruff format --check . && python3 -m uv run mypy
bench:
	python3 -m uv run python benchmarks/engine.py
