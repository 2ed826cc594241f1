def __agentteam_inspect(paths):
    import os
    try:
        import pandas as pd
    except ImportError:
        pd = None
    for p in paths:
        ext = os.path.splitext(p)[1].lower()
        print(f"=== {p} ({os.path.getsize(p)} bytes)")
        if pd is None:
            print("pandas is not installed in the kernel")
            continue
        try:
            if ext in ('.csv', '.tsv', '.txt'):
                df = None
                for kw in ({}, {'encoding': 'latin-1'}, {'sep': None, 'engine': 'python'},
                           {'sep': None, 'engine': 'python', 'encoding': 'latin-1'}):
                    if ext == '.tsv' and 'sep' not in kw:
                        kw = dict(kw, sep='\t')
                    try:
                        df = pd.read_csv(p, **kw)
                        if df.shape[1] > 1 or 'sep' in kw:
                            break
                    except (UnicodeDecodeError, pd.errors.ParserError):
                        continue
                if df is None:
                    raise ValueError('not a delimited text file pandas can read')
                if kw:
                    print(f"read with {kw}")
            elif ext in ('.xlsx', '.xls'):
                df = pd.read_excel(p)
            elif ext == '.jsonl':
                df = pd.read_json(p, lines=True)
            elif ext == '.json':
                df = pd.read_json(p)
            elif ext == '.parquet':
                df = pd.read_parquet(p)
            else:
                continue
        except Exception as e:
            print(f"could not load it with pandas: {type(e).__name__}: {e}")
            with open(p, 'rb') as f:
                print("first bytes:", f.read(300))
            continue
        print(f"shape: {df.shape[0]} rows x {df.shape[1]} columns")
        print("columns and dtypes:")
        print(df.dtypes.to_string())
        miss = df.isna().sum()
        miss = miss[miss > 0]
        print("missing values:", "none" if miss.empty else "")
        if not miss.empty:
            print(miss.to_string())
        print(f"duplicate rows: {int(df.duplicated().sum())}")
        print("first rows:")
        print(df.head(5).to_string())
        print()
