"""Writes the starter suite's tables (deterministic: a fixed seed).

Run with Debian's python3 from this directory: /usr/bin/python3 make_tables.py
"""
import random

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261129)
random.seed(20261129)

# orders.csv: a small shop's orders, a few discounts missing.
n = 40
regions = rng.choice(["North", "South", "East", "West"], size=n, p=[0.35, 0.25, 0.2, 0.2])
products = rng.choice(["tea", "coffee", "cocoa", "mate"], size=n)
orders = pd.DataFrame({
    "order_id": np.arange(1001, 1001 + n),
    "date": pd.date_range("2024-01-01", periods=n, freq="2D").strftime("%Y-%m-%d"),
    "region": regions,
    "product": products,
    "quantity": rng.integers(1, 9, size=n),
    "unit_price": np.round(rng.uniform(2.5, 19.5, size=n), 2),
    "discount": np.round(rng.choice([0.0, 0.05, 0.1, 0.15], size=n), 2),
})
orders.loc[rng.choice(n, size=6, replace=False), "discount"] = np.nan
orders.to_csv("tables/orders.csv", index=False)

# weather.csv: daily readings in three cities.
days = pd.date_range("2024-03-01", periods=20, freq="D")
rows = []
for city, base in [("Lisbon", 17.0), ("Oslo", 3.0), ("Cairo", 26.0)]:
    for d in days:
        hum = float(np.round(rng.uniform(30, 95), 1))
        rain = float(np.round(max(0.0, rng.normal((hum - 60) / 6, 2.5)), 1))
        rows.append({"date": d.strftime("%Y-%m-%d"), "city": city,
                     "temp_c": float(np.round(base + rng.normal(0, 3), 1)),
                     "humidity": hum, "rain_mm": rain})
pd.DataFrame(rows).to_csv("tables/weather.csv", index=False)

# students.csv: scores and weekly study hours.
names = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun",
         "Kemal", "Lea", "Mio", "Nia", "Omar", "Pia", "Quinn", "Rui", "Sara", "Tomas",
         "Uma", "Vik", "Wen", "Xena", "Yusuf", "Zoe"]
hours = np.round(rng.uniform(1, 15, size=len(names)), 1)
students = pd.DataFrame({
    "student": names,
    "class": rng.choice(["A", "B"], size=len(names)),
    "hours_study": hours,
    "math": np.clip(np.round(45 + 3.2 * hours + rng.normal(0, 6, size=len(names))), 0, 100).astype(int),
    "reading": rng.integers(50, 100, size=len(names)),
    "science": rng.integers(40, 100, size=len(names)),
})
students.to_csv("tables/students.csv", index=False)

# employees.csv: salaries with two outliers.
depts = rng.choice(["Sales", "Engineering", "Support", "Finance"], size=30)
base = {"Sales": 52000, "Engineering": 78000, "Support": 41000, "Finance": 64000}
salary = [int(round(base[d] + rng.normal(0, 6000), -2)) for d in depts]
salary[4] = 185000
salary[17] = 5000
employees = pd.DataFrame({
    "employee_id": np.arange(1, 31),
    "department": depts,
    "salary": salary,
    "years": rng.integers(0, 21, size=30),
    "remote": rng.choice(["yes", "no"], size=30, p=[0.4, 0.6]),
})
employees.to_csv("tables/employees.csv", index=False)
