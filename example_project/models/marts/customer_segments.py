# A python model: dbt-duckdb's contract, run by strata in the Python on PATH (or STRATA_PYTHON).
import pandas as pd


def model(dbt, session):
    dbt.config(materialized="table")
    customers = dbt.ref("dim_customers").df()
    bins = [-1, 0, 100, 500, float("inf")]
    labels = ["none", "low", "mid", "high"]
    customers["segment"] = pd.cut(customers["lifetime_value"].fillna(0), bins=bins, labels=labels).astype(str)
    out = customers.groupby("segment", as_index=False).agg(
        customers=("customer_id", "count"),
        lifetime_value=("lifetime_value", "sum"),
    )
    return out.sort_values("segment")
