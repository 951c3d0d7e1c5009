# Sourced by scripts/build-example and scripts/test: install what the build and the tests need
# when it is missing, from Debian's packages and PyPI, then leave the rest to cargo. Nothing is
# installed that is already there, so a second run costs a few checks.
#
# What and why:
#   - a C/C++ compiler: the bundled DuckDB (with parquet, json and ICU) is C++ built by cargo;
#   - python3 with the duckdb, pandas and pyarrow packages: python models run in the user's
#     Python (example_project has one; tests/it/python.rs runs them; a fixture's model returns a
#     pyarrow Table, one of the results dbt-duckdb accepts);
#   - protoc: the Spark engine's Spark Connect client generates its gRPC code when it is built;
#   - chromium (tests only): the docs site's browser test;
#   - Java 17 and pyspark (tests only): tests/it/spark.rs starts a local Spark cluster
#     (scripts/spark-local.sh) from the jars pyspark ships.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "strata setup: need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "strata setup: please install $* (no apt-get on this machine)" >&2
    return 1
  fi
  if [ -z "$APT_UPDATED" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  echo "strata setup: installing $* (Debian)" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_compiler() {
  if ! command -v c++ >/dev/null 2>&1; then apt_install g++; fi
}

# The interpreter python models use: STRATA_PYTHON, or python3.
ensure_python() {
  local py="${STRATA_PYTHON:-python3}"
  if ! command -v "$py" >/dev/null 2>&1; then
    if [ -n "${STRATA_PYTHON:-}" ]; then
      echo "strata setup: STRATA_PYTHON=$py is not an interpreter" >&2
      return 1
    fi
    apt_install python3 python3-pip
  fi
  if ! "$py" -c 'import duckdb, pandas, pyarrow' >/dev/null 2>&1; then
    echo "strata setup: installing the duckdb, pandas and pyarrow Python packages for $py (PyPI)" >&2
    "$py" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    # Debian's own python3 refuses user installs unless told (PEP 668).
    "$py" -m pip install --quiet duckdb pandas pyarrow 2>/dev/null ||
      "$py" -m pip install --quiet --break-system-packages duckdb pandas pyarrow
  fi
}

ensure_protoc() {
  if ! command -v protoc >/dev/null 2>&1 && [ -z "${PROTOC:-}" ]; then apt_install protobuf-compiler; fi
}

# What scripts/spark-local.sh needs: Java 17 and the pyspark package (Spark's jars).
ensure_spark() {
  if ! command -v java >/dev/null 2>&1; then apt_install openjdk-17-jre-headless; fi
  if ! python3 -c 'import pyspark' >/dev/null 2>&1; then
    echo "strata setup: installing the pyspark Python package (PyPI, Spark's jars)" >&2
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    python3 -m pip install --quiet 'pyspark>=4,<5' 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages 'pyspark>=4,<5'
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then apt_install chromium; fi
}
