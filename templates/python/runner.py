# strata's runner for one python model (dbt-duckdb's contract): `def model(dbt, session)`.
#
# strata holds the project's DuckDB file, so the model runs in its own process on an in-memory
# DuckDB: every relation the model refs (and `this`, for an incremental model) was exported by
# strata to a parquet file, and is visible here under its real name ("db"."schema"."name"), so
# dbt.ref(), dbt.source(), dbt.this and session.sql(f"... {dbt.this}") all work. The model's
# result is written to a parquet file that strata loads with the model's materialization.
#
# Usage: python3 runner.py SPEC.json. On an error, writes SPEC's error file (JSON) and exits 1.

import json
import sys
import traceback

SPEC = json.load(open(sys.argv[1], encoding="utf-8"))


def fail(kind, message, frames=None, line=None, col=None):
    with open(SPEC["error_path"], "w", encoding="utf-8") as f:
        json.dump({"kind": kind, "message": message, "frames": frames or [], "line": line, "col": col}, f)
    sys.exit(1)


try:
    import duckdb
except ImportError as e:
    fail(
        "missing_package",
        f"the Python at {sys.executable} cannot import duckdb ({e}); install it with `{sys.executable} -m pip install duckdb`",
    )

sys.path[:0] = SPEC["module_paths"]


def quote(part):
    return '"' + part.replace('"', '""') + '"'


class Relation:
    """`dbt.this` and friends: the relation's parts, rendered as DuckDB SQL."""

    def __init__(self, database, schema, identifier):
        self.database, self.schema, self.identifier = database, schema, identifier
        self.name = identifier

    def render(self):
        return ".".join(quote(p) for p in (self.database, self.schema, self.identifier) if p is not None)

    def __str__(self):
        return self.render()

    __repr__ = __str__


class Config:
    """`dbt.config(...)` (read at parse; a no-op here) and `dbt.config.get(key, default)`."""

    def __init__(self, values):
        self._values = values

    def __call__(self, *args, **kwargs):
        return ""

    def get(self, key, default=None):
        return self._values.get(key, default)


session = duckdb.connect(":memory:")
made = set()
for rel in SPEC["relations"]:
    db, schema, name = rel["database"], rel["schema"], rel["identifier"]
    if db not in made and db != "memory":
        session.execute(f"attach ':memory:' as {quote(db)}")
    made.add(db)
    session.execute(f"create schema if not exists {quote(db)}.{quote(schema)}")
    path = rel["path"].replace("'", "''")
    session.execute(
        f"create or replace view {quote(db)}.{quote(schema)}.{quote(name)} as select * from read_parquet('{path}')"
    )


class Dbt:
    def __init__(self):
        self.config = Config(SPEC["config"])
        t = SPEC["this"]
        self.this = Relation(t["database"], t["schema"], t["identifier"])
        self.is_incremental = SPEC["is_incremental"]
        self._refs = {tuple(k): v for k, v in SPEC["refs"]}
        self._sources = {tuple(k): v for k, v in SPEC["sources"]}

    def _relation(self, sql):
        return session.sql(f"select * from {sql}")

    def ref(self, *args, **kwargs):
        version = kwargs.get("v", kwargs.get("version"))
        key = tuple(args) + ((str(version),) if version is not None else ())
        if key not in self._refs:
            raise ValueError(f"dbt.ref{args!r}: this call was not found in the model when strata parsed it")
        return self._relation(self._refs[key])

    def source(self, source_name, table_name):
        key = (source_name, table_name)
        if key not in self._sources:
            raise ValueError(f"dbt.source{key!r}: this call was not found in the model when strata parsed it")
        return self._relation(self._sources[key])


def user_frames(tb):
    frames = []
    for fr in traceback.extract_tb(tb):
        if fr.filename == SPEC["model_path"]:
            frames.append({"line": fr.lineno, "name": fr.name, "text": fr.line or ""})
    return frames


source = open(SPEC["model_path"], encoding="utf-8").read()
try:
    code = compile(source, SPEC["model_path"], "exec")
except SyntaxError as e:
    fail("syntax", f"SyntaxError: {e.msg}", line=e.lineno, col=e.offset)

namespace = {"__name__": SPEC["name"], "__file__": SPEC["model_path"]}
try:
    exec(code, namespace)
    result = namespace["model"](Dbt(), session)
except Exception as e:  # noqa: BLE001 - every error of the model is reported
    frames = user_frames(e.__traceback__)
    fail("exception", "".join(traceback.format_exception_only(type(e), e)).strip(), frames)

out = SPEC["output_path"].replace("'", "''")
try:
    if isinstance(result, duckdb.DuckDBPyRelation):
        result.write_parquet(SPEC["output_path"])
    else:
        kind = type(result).__module__.split(".")[0] + "." + type(result).__name__
        accepted = ("pandas.DataFrame", "polars.DataFrame", "polars.LazyFrame", "pyarrow.Table", "pyarrow.RecordBatchReader")
        if kind not in accepted:
            fail(
                "result",
                f"model() returned {kind}; return a pandas or polars DataFrame, a pyarrow Table or a DuckDB relation",
            )
        if kind == "polars.LazyFrame":
            result = result.collect()
        if kind == "pyarrow.RecordBatchReader":
            # It streams from a result of this session, which must be drained before the next query.
            result = result.read_all()
        session.register("__strata_result", result)
        session.execute(f"copy (select * from __strata_result) to '{out}' (format parquet)")
except SystemExit:
    raise
except Exception as e:  # noqa: BLE001
    fail("result", f"cannot store the model's result: {type(e).__name__}: {e}")
