"""Writes the starter suite: questions.jsonl, labels.jsonl and replay/<id>.md.

Each question has reference code that computes its label, and a recorded
session (planner and coder replies in order) whose code is run here, in
this directory's tables, to fill in the numbers its final answer quotes, so
the recording says what its own code prints. Run with Debian's python3 from
this directory after make_tables.py: /usr/bin/python3 make_suite.py
"""
import contextlib
import io
import json
import os

import numpy as np
import pandas as pd

QUESTIONS = []


def q(id, file, level, concepts, question, constraints, fmt, reference, steps, final, wrong=False):
    QUESTIONS.append(dict(id=id, file=file, level=level, concepts=concepts, question=question,
                          constraints=constraints, fmt=fmt, reference=reference, steps=steps,
                          final=final, wrong=wrong))


def plan(*lines):
    return "Plan:\n" + "\n".join(f"{i}. {l}" for i, l in enumerate(lines, 1))


def code(text, src):
    return f"{text}\n```python\n{src.strip()}\n```"


# Each step is (planner_or_coder, text). The coder's code runs in order in one
# namespace; `final` is a function of that namespace giving the @ lines.

q(0, "orders.csv", "easy", ["Summary Statistics"],
  "What is the mean unit price of the orders?",
  "Use all orders. Round to two decimal places.",
  "@mean_unit_price[value] where value is a number rounded to two decimal places.",
  lambda t: {"mean_unit_price": f"{t['orders'].unit_price.mean():.2f}"},
  [("planner", plan("Load orders.csv.", "Compute the mean of unit_price, rounded to 2 decimals.", "Give the answer in the required format.")),
   ("coder", code("Load the orders and take the mean unit price.", """
import pandas as pd
orders = pd.read_csv("orders.csv")
mean_price = orders["unit_price"].mean()
print(round(mean_price, 2))
""")),
   ("planner", "The mean unit price is printed. Give the final answer.")],
  lambda ns: {"mean_unit_price": f"{ns['mean_price']:.2f}"})

q(1, "orders.csv", "easy", ["Summary Statistics"],
  "How many orders come from the North region?",
  "Count rows whose region is exactly North.",
  "@north_orders[count] where count is an integer.",
  lambda t: {"north_orders": str(int((t['orders'].region == "North").sum()))},
  [("planner", plan("Load orders.csv.", "Count the rows with region North.", "Answer in the required format.")),
   ("coder", code("Count the North orders.", """
import pandas as pd
orders = pd.read_csv("orders.csv")
north = int((orders["region"] == "North").sum())
print(north)
""")),
   ("planner", "The count is printed. Give the final answer.")],
  lambda ns: {"north_orders": str(ns['north'])})

q(2, "orders.csv", "medium", ["Feature Engineering", "Summary Statistics"],
  "Which region has the highest revenue, and how much is it? Revenue of an order is quantity * unit_price * (1 - discount).",
  "Treat a missing discount as 0. Round the revenue to two decimal places.",
  "@top_region[name] @top_revenue[value] where name is the region and value is its revenue rounded to two decimal places.",
  lambda t: (lambda o: (lambda r: {"top_region": r.idxmax(), "top_revenue": f"{r.max():.2f}"})(
      (o.quantity * o.unit_price * (1 - o.discount.fillna(0))).groupby(o.region).sum()))(t['orders']),
  [("planner", plan("Load orders.csv.", "Compute revenue per order, missing discount as 0.", "Sum by region and pick the largest.", "Answer in the required format.")),
   ("coder", code("Revenue per order, then by region.", """
import pandas as pd
orders = pd.read_csv("orders.csv")
orders["revenue"] = orders["quantity"] * orders["unit_price"] * (1 - orders["discount"])
by_region = orders.groupby("region")["revenue"].sum()
print(by_region)
print(orders["revenue"].isna().sum(), "orders have no revenue")
""")),
   ("planner", "Some orders have no revenue because their discount is missing; the constraints say a missing discount is 0. Fill it and sum again."),
   ("coder", code("Fill the missing discounts with 0 and sum again.", """
orders["revenue"] = orders["quantity"] * orders["unit_price"] * (1 - orders["discount"].fillna(0))
by_region = orders.groupby("region")["revenue"].sum().sort_values(ascending=False)
print(by_region.round(2))
top_region, top_revenue = by_region.index[0], by_region.iloc[0]
""")),
   ("planner", "Every order counts now. Give the final answer.")],
  lambda ns: {"top_region": ns['top_region'], "top_revenue": f"{ns['top_revenue']:.2f}"})

q(3, "orders.csv", "medium", ["Data Preprocessing", "Summary Statistics"],
  "How many orders have no discount recorded, and what is the median quantity of the orders that do?",
  "A discount of 0 is recorded; only empty cells are missing.",
  "@missing_discount[count] @median_quantity[value] where count is an integer and value is a number with one decimal place.",
  lambda t: {"missing_discount": str(int(t['orders'].discount.isna().sum())),
             "median_quantity": f"{t['orders'][t['orders'].discount.notna()].quantity.median():.1f}"},
  [("planner", plan("Load orders.csv.", "Count the empty discounts.", "Take the median quantity over the rows with a discount.", "Answer in the required format.")),
   ("coder", code("Count the missing discounts and take the median quantity of the rest.", """
import pandas as pd
orders = pd.read_csv("orders.csv")
missing = int(orders["discount"].isna().sum())
median_q = orders.loc[orders["discount"].notna(), "quantity"].median()
print(missing, median_q)
""")),
   ("planner", "Both numbers are printed. Give the final answer.")],
  lambda ns: {"missing_discount": str(ns['missing']), "median_quantity": f"{ns['median_q']:.1f}"})

q(4, "weather.csv", "easy", ["Summary Statistics"],
  "What was the highest temperature recorded, and in which city?",
  "Use temp_c.",
  "@max_temp[value] @max_temp_city[city] where value is in degrees Celsius with one decimal place.",
  lambda t: {"max_temp": f"{t['weather'].temp_c.max():.1f}", "max_temp_city": t['weather'].loc[t['weather'].temp_c.idxmax(), "city"]},
  [("planner", plan("Load weather.csv.", "Find the row with the highest temp_c.", "Answer in the required format.")),
   ("coder", code("Find the hottest reading.", """
import pandas as pd
weather = pd.read_csv("weather.csv")
hot = weather.loc[weather["temp_c"].idxmax()]
print(hot)
""")),
   ("planner", "The hottest reading is printed. Give the final answer.")],
  lambda ns: {"max_temp": f"{ns['hot']['temp_c']:.1f}", "max_temp_city": ns['hot']['city']})

q(5, "weather.csv", "medium", ["Correlation Analysis"],
  "What is the Pearson correlation coefficient between humidity and rain_mm?",
  "Use all rows of every city. Round to two decimal places.",
  "@correlation[r] where r is between -1 and 1, rounded to two decimal places.",
  lambda t: {"correlation": f"{t['weather'].humidity.corr(t['weather'].rain_mm):.2f}"},
  [("planner", plan("Load weather.csv.", "Compute the Pearson correlation of humidity and rain_mm.", "Answer in the required format.")),
   ("coder", code("Correlate humidity with rain.", """
import pandas as pd
weather = pd.read_csv("weather.csv")
r = weather["humidity"].corr(weather["rain_mm"])
print(round(r, 2))
""")),
   ("planner", "The coefficient is printed. Give the final answer.")],
  lambda ns: {"correlation": f"{ns['r']:.2f}"})

q(6, "weather.csv", "hard", ["Summary Statistics", "Data Preprocessing"],
  "Which city had the most rainy days, and how many? A rainy day has more than 0 mm of rain.",
  "Count days per city with rain_mm > 0.",
  "@rainiest_city[city] @rainy_days[count] where count is an integer.",
  lambda t: (lambda c: {"rainiest_city": c.idxmax(), "rainy_days": str(int(c.max()))})(
      t['weather'][t['weather'].rain_mm > 0].groupby("city").size()),
  [("planner", plan("Load weather.csv.", "Count the days with rain_mm > 0 per city.", "Pick the city with the most.", "Answer in the required format.")),
   ("coder", code("Count rainy days per city.", """
import pandas as pd
weather = pd.read_csv("weather.csv")
rainy = weather[weather["rain_mm"] > 0].groupby("City").size()
print(rainy)
""")),
   ("planner", "The column is `city`, lower case; group by that."),
   ("coder", code("Group by the right column name.", """
rainy = weather[weather["rain_mm"] > 0].groupby("city").size().sort_values(ascending=False)
print(rainy)
rainiest, days = rainy.index[0], int(rainy.iloc[0])
""")),
   ("planner", "The counts are printed. Give the final answer.")],
  lambda ns: {"rainiest_city": ns['rainiest'], "rainy_days": str(ns['days'])})

q(7, "students.csv", "easy", ["Summary Statistics"],
  "What is the average math score?",
  "Round to two decimal places.",
  "@mean_math[value] where value is rounded to two decimal places.",
  lambda t: {"mean_math": f"{t['students'].math.mean():.2f}"},
  [("planner", plan("Load students.csv.", "Average the math column.", "Answer in the required format.")),
   ("coder", code("Average math score.", """
import pandas as pd
students = pd.read_csv("students.csv")
mean_math = students["math"].mean()
print(round(mean_math, 2))
""")),
   ("planner", "The average is printed. Give the final answer.")],
  lambda ns: {"mean_math": f"{ns['mean_math']:.2f}"})

q(8, "students.csv", "medium", ["Feature Engineering"],
  "Add up each student's math, reading and science scores. Who has the highest total, and what is it?",
  "The total is the plain sum of the three scores.",
  "@top_student[name] @top_total[value] where value is an integer.",
  lambda t: (lambda s: {"top_student": t['students'].loc[s.idxmax(), "student"], "top_total": str(int(s.max()))})(
      t['students'].math + t['students'].reading + t['students'].science),
  [("planner", plan("Load students.csv.", "Add a total column: math + reading + science.", "Find the student with the highest total.", "Answer in the required format.")),
   ("coder", code("Total score per student.", """
import pandas as pd
students = pd.read_csv("students.csv")
students["total"] = students[["math", "reading", "science"]].sum(axis=1)
best = students.loc[students["total"].idxmax(), ["student", "total"]]
print(best)
""")),
   ("planner", "The best student is printed. Give the final answer.")],
  lambda ns: {"top_student": ns['best']['student'], "top_total": str(int(ns['best']['total']))})

q(9, "students.csv", "hard", ["Machine Learning", "Correlation Analysis"],
  "Fit a least-squares line predicting the math score from hours_study. What are its slope and intercept?",
  "Ordinary least squares with one feature (e.g. numpy.polyfit with degree 1). Round both to two decimal places.",
  "@slope[value] @intercept[value] where both are rounded to two decimal places.",
  lambda t: (lambda p: {"slope": f"{p[0]:.2f}", "intercept": f"{p[1]:.2f}"})(np.polyfit(t['students'].hours_study, t['students'].math, 1)),
  [("planner", plan("Load students.csv.", "Fit math = a * hours_study + b by least squares.", "Answer with a and b rounded to 2 decimals.")),
   ("coder", code("Fit the line.", """
import numpy as np
import pandas as pd
students = pd.read_csv("students.csv")
slope, intercept = np.polyfit(students["hours_study"], students["math"], 1)
print(round(slope, 2), round(intercept, 2))
""")),
   ("planner", "Slope and intercept are printed. Give the final answer.")],
  lambda ns: {"slope": f"{ns['slope']:.2f}", "intercept": f"{ns['intercept']:.2f}"})

q(10, "employees.csv", "medium", ["Summary Statistics"],
  "Which department has the highest mean salary, and what is it?",
  "Round the mean to the nearest whole number.",
  "@department[name] @mean_salary[value] where value is an integer.",
  lambda t: (lambda m: {"department": m.idxmax(), "mean_salary": str(int(round(m.max())))})(t['employees'].groupby("department").salary.mean()),
  [("planner", plan("Load employees.csv.", "Average the salary by department.", "Pick the highest.", "Answer in the required format.")),
   ("coder", code("Mean salary by department.", """
import pandas as pd
employees = pd.read_csv("employees.csv")
by_dept = employees.groupby("department")["salary"].mean().sort_values(ascending=False)
print(by_dept.round(0))
dept, mean_salary = by_dept.index[0], int(round(by_dept.iloc[0]))
""")),
   ("planner", "The means are printed. Give the final answer.")],
  lambda ns: {"department": ns['dept'], "mean_salary": str(ns['mean_salary'])})

q(11, "employees.csv", "hard", ["Outlier Detection"],
  "How many salaries are outliers by the IQR rule?",
  "An outlier lies below Q1 - 1.5*IQR or above Q3 + 1.5*IQR, with Q1 and Q3 from pandas' quantile (linear interpolation).",
  "@outliers[count] where count is an integer.",
  lambda t: (lambda s: (lambda q1, q3: {"outliers": str(int(((s < q1 - 1.5 * (q3 - q1)) | (s > q3 + 1.5 * (q3 - q1))).sum()))})(s.quantile(0.25), s.quantile(0.75)))(t['employees'].salary),
  [("planner", plan("Load employees.csv.", "Find salaries more than 3 standard deviations from the mean.", "Count them and answer.")),
   ("coder", code("Count salaries far from the mean.", """
import pandas as pd
employees = pd.read_csv("employees.csv")
s = employees["salary"]
far = ((s - s.mean()).abs() > 3 * s.std()).sum()
print(int(far))
""")),
   ("planner", "The count is printed. Give the final answer.")],
  lambda ns: {"outliers": str(int(ns['far']))}, wrong=True)

q(12, "employees.csv", "medium", ["Summary Statistics", "Data Preprocessing"],
  "What share of the employees work remotely?",
  "remote is yes or no. Give the share as a fraction between 0 and 1, rounded to two decimal places.",
  "@remote_share[value] where value is rounded to two decimal places.",
  lambda t: {"remote_share": f"{(t['employees'].remote == 'yes').mean():.2f}"},
  [("planner", plan("Load employees.csv.", "Take the fraction of rows with remote == yes.", "Answer in the required format.")),
   ("coder", code("Share of remote employees.", """
import pandas as pd
employees = pd.read_csv("employees.csv")
share = (employees["remote"] == "yes").mean()
print(round(share, 2))
""")),
   ("planner", "The share is printed. Give the final answer.")],
  lambda ns: {"remote_share": f"{ns['share']:.2f}"})


def main():
    tables = {name[:-4]: pd.read_csv(os.path.join("tables", name)) for name in os.listdir("tables")}
    os.makedirs("replay", exist_ok=True)
    with open("questions.jsonl", "w") as qf, open("labels.jsonl", "w") as lf:
        for item in QUESTIONS:
            qf.write(json.dumps({"id": item["id"], "question": item["question"], "concepts": item["concepts"],
                                 "constraints": item["constraints"], "format": item["fmt"],
                                 "file_name": item["file"], "level": item["level"]}) + "\n")
            label = item["reference"](tables)
            lf.write(json.dumps({"id": item["id"], "common_answers": [[k, v] for k, v in label.items()]}) + "\n")
            ns = {}
            cwd = os.getcwd()
            os.chdir("tables")
            try:
                for who, text in item["steps"]:
                    if who != "coder":
                        continue
                    src = text.split("```python\n", 1)[1].rsplit("```", 1)[0]
                    with contextlib.redirect_stdout(io.StringIO()):
                        try:
                            exec(src, ns)
                        except Exception:
                            pass  # a recorded mistake, fixed in a later step
            finally:
                os.chdir(cwd)
            answer = item["final"](ns)
            if (answer == label) == item["wrong"]:
                raise SystemExit(f"question {item['id']}: recorded answer {answer} vs label {label}, wrong={item['wrong']}")
            final = "The outputs answer the question.\n\n" + "\n".join(f"@{k}[{v}]" for k, v in answer.items()) + "\n\nTERMINATE"
            replies = [text for _, text in item["steps"]] + [final]
            with open(f"replay/{item['id']}.md", "w") as rf:
                rf.write(f"<!--\nA recorded session for question {item['id']} of the starter suite, replayed in order.\n-->\n")
                rf.write("\n---\n".join(replies) + "\n")


main()
