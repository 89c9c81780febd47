"""The floor of bench_scale's workload on Spark: the same four results by hand-written Spark SQL.

No rox code runs here: a plain SparkSession with the settings rox's ``local_session`` gives a
local session (UTC, 8 shuffle partitions, adaptive execution as Spark's default, driver memory
``ROX_SPARK_DRIVER_MEMORY`` or 4g, no web UI), the lake's Parquet folders read directly, and
what each result needs written as SQL a Spark user would write:

* **the ordered events, one window pass**: the events partitioned by journey (``journey``, else
  the customer), ordered by ``ts, _seq``, each with its position (``seq``), the next step and the
  next time, in one ``Window`` operator over one shuffle; only the columns the results need
  (journey, customer, step, seconds since 1970 and the next ones), cached once per workload run
  (``persist``; the first result materialises it) and read by the three journey results. Cached
  data keeps its partitioning by journey, so the per-journey aggregates below add no shuffle;
* **map**: the transitions grouped by (step, next step): count, distinct customers, exact
  median and 90th percentile of the seconds between (``percentile``); and per step: events,
  journeys starting and ending there, transitions tied in time;
* **variants (top 20)**: per journey its path (the steps in order, ``collect_list`` of
  ``(seq, step)`` sorted, joined by `` > ``), length, first-to-last seconds; grouped by path
  (count, median seconds, lowest journey id), the 20 with most journeys (ties: lowest journey id);
* **funnel** (ordered, 30-day window from entry): per journey, its events of the five steps in
  order folded by ``aggregate`` into the stage reached and the time of each stage (entry: the
  first ``visit``; each next stage: the first visit of its step after the previous stage's and
  within the window of the entry); then per stage the journeys, and the exact median and 90th
  percentile of the seconds from entry (and the percentiles of the time to convert for the last);
* **RFM** (``sufficient_statistics``): transactions summed per customer and UTC day, those up to
  the calibration end grouped per customer (first and last day, days), then the distinct
  (frequency, recency, T) in weeks with their counts.

The results come back in the shape of ``bench_scale.check_payload`` so that the parent compares
them with rox's (on DuckDB and on Spark).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HOUR = 3600.0
SEPARATOR = " > "
TIME_PERCENTILES = (0, 5, 10, 25, 50, 75, 90, 95, 99, 100)


def session(master: str) -> Any:
    """A local SparkSession with the settings of rox's ``local_session`` (written out here)."""
    import tempfile

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.appName("rox-floor")
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("FLOOR_SHUFFLE_PARTITIONS", "8"))
        .config("spark.driver.memory", os.environ.get("ROX_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(Path(tempfile.gettempdir()) / "rox-floor"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class Floor:
    """The hand-written workload over one lake (``open``), run part by part (``run_part``)."""

    def __init__(self, spark: Any, lake: Path) -> None:
        self.spark = spark
        self.lake = lake
        for name in ("events", "transactions"):
            frame = spark.read.parquet(str(lake / name)).drop("rox_day")
            frame.createOrReplaceTempView(f"floor_{name}")
        self.ordered: Any = None

    def start_run(self) -> None:
        """A new workload run: the ordered events are computed again (as rox's are)."""
        if self.ordered is not None:
            self.ordered.unpersist(blocking=True)
            self.spark.catalog.dropTempView("floor_ordered")
        self.ordered = self.spark.sql(
            """
            select journey_id, customer_id, step, epoch_s, seq, next_step, next_epoch_s
            from (
              select journey_id, customer_id, step, epoch_s,
                     row_number() over w - 1 as seq,
                     lead(step) over w as next_step,
                     lead(epoch_s) over w as next_epoch_s
              from (select coalesce(journey, customer_id) as journey_id, customer_id, step, ts,
                           _seq, unix_micros(ts) / 1000000 as epoch_s
                    from floor_events)
              window w as (partition by journey_id order by ts, _seq)
            )"""
        ).persist()
        self.ordered.createOrReplaceTempView("floor_ordered")

    def close(self) -> None:
        if self.ordered is not None:
            self.ordered.unpersist(blocking=True)
        for name in ("events", "transactions", "ordered"):
            self.spark.catalog.dropTempView(f"floor_{name}")

    def rows(self, sql: str) -> list[Any]:
        return self.spark.sql(sql).collect()

    # -- the parts --------------------------------------------------------------------------------
    def journey_map(self) -> dict[str, Any]:
        edges = self.rows(
            f"""
            select step, next_step, count(*) as n, count(distinct customer_id) as c,
                   percentile(next_epoch_s - epoch_s, 0.5) / {HOUR} as median_hours,
                   percentile(next_epoch_s - epoch_s, 0.9) / {HOUR} as p90_hours
            from floor_ordered where next_step is not null group by step, next_step"""
        )
        steps = self.rows(
            """
            select step, count(*) as events, count_if(seq = 0) as starts,
                   count_if(next_step is null) as ends
            from floor_ordered group by step"""
        )
        return {
            "map": sorted([r.step, r.next_step, int(r.n), int(r.c)] for r in edges),
            "map_hours": {
                f"{r.step}>{r.next_step}": [float(r.median_hours), float(r.p90_hours)]
                for r in edges
            },
            "starts": sorted([r.step, int(r.starts)] for r in steps if r.starts),
            "ends": sorted([r.step, int(r.ends)] for r in steps if r.ends),
            "journeys": sum(int(r.starts) for r in steps),
            "events": sum(int(r.events) for r in steps),
        }

    def variants(self, top: int = 20) -> dict[str, Any]:
        rows = self.rows(
            f"""
            select path, min(steps) as steps, count(*) as journeys,
                   percentile(seconds, 0.5) / {HOUR} as median_hours,
                   min(journey_id) as example
            from (select journey_id, count(*) as steps,
                         max(epoch_s) - min(epoch_s) as seconds,
                         concat_ws('{SEPARATOR}',
                                   transform(array_sort(collect_list(struct(seq, step))),
                                             x -> x.step)) as path
                  from floor_ordered group by journey_id)
            group by path order by journeys desc, example limit {top}"""
        )
        ordered = sorted(rows, key=lambda r: (-int(r.journeys), r.path))
        return {"variants": [[r.path, int(r.steps), int(r.journeys)] for r in ordered]}

    def funnel(self, steps: list[str], window_s: float) -> dict[str, Any]:
        n = len(steps)
        names = ", ".join(f"'{s}'" for s in steps)
        # the fold over a journey's events of the funnel's steps, in order: k is the stage reached
        # (0: not entered), e0 the entry's seconds, e the seconds of each stage reached
        fold = f"""
            aggregate(
              array_sort(collect_list(struct(seq, step, epoch_s))),
              named_struct('k', 0, 'e0', cast(null as double), 'e', cast(array() as array<double>)),
              (acc, x) -> case
                when acc.k = 0 and x.step = '{steps[0]}'
                  then named_struct('k', 1, 'e0', x.epoch_s, 'e', array(x.epoch_s))
                when acc.k between 1 and {n - 1} and x.step = element_at(array({names}), acc.k + 1)
                     and x.epoch_s - acc.e0 <= {window_s}
                  then named_struct('k', acc.k + 1, 'e0', acc.e0,
                                    'e', concat(acc.e, array(x.epoch_s)))
                else acc end)"""
        per_stage = []
        for i in range(n):
            h = f"(try_element_at(f.e, {i + 1}) - f.e0)"
            per_stage.append(
                f"count_if(f.k >= {i + 1}) as n{i}, percentile({h}, 0.5) as m{i}, "
                f"percentile({h}, 0.9) as p{i}"
            )
        last = f"(try_element_at(f.e, {n}) - f.e0)"
        quantiles = ", ".join(f"{k / 100}" for k in TIME_PERCENTILES)
        row = self.rows(
            f"""
            select {", ".join(per_stage)}, percentile({last}, array({quantiles})) as q
            from (select {fold} as f
                  from floor_ordered where step in ({names}) group by journey_id)"""
        )[0]
        return {
            "funnel": [int(row[f"n{i}"]) for i in range(n)],
            "funnel_hours": {
                step: [float(row[f"m{i}"]) / HOUR, float(row[f"p{i}"]) / HOUR]
                for i, step in enumerate(steps)
                if row[f"n{i}"]
            },
            "funnel_times": [float(q) / HOUR for q in row["q"]] if row["q"] else [],
        }

    def rfm(self, calibration_end: str) -> dict[str, Any]:
        rows = self.rows(
            f"""
            select frequency, recency, T, count(*) as count
            from (select days - 1 as frequency,
                         cast(datediff(last_day, first_day) as double) / 7.0 as recency,
                         cast(datediff(date'{calibration_end}', first_day) as double) / 7.0 as T
                  from (select customer_id, min(day) as first_day, max(day) as last_day,
                               count(*) as days
                        from (select customer_id, to_date(ts) as day
                              from floor_transactions
                              where to_date(ts) <= date'{calibration_end}'
                              group by customer_id, to_date(ts))
                        group by customer_id))
            group by frequency, recency, T"""
        )
        stats = sorted(
            [int(r.frequency), float(r.recency), float(r.T), int(r["count"])] for r in rows
        )
        return {"rfm_stats_rows": len(stats), "rfm_stats": stats}
