package solve

import (
	_ "embed"
	"encoding/json"
	"path"
	"strings"
)

// inspectSource defines __agentteam_inspect(paths), which prints what a
// person (and the planner) needs to know about each data file: shape,
// columns and types, missing values, duplicates and the first rows.
//
//go:embed inspect_data.py
var inspectSource string

// dataExts are the inputs inspected before planning.
var dataExts = map[string]bool{".csv": true, ".tsv": true, ".txt": true, ".xlsx": true, ".xls": true,
	".json": true, ".jsonl": true, ".parquet": true}

// IsData reports whether a file name is one the data inspection looks at.
func IsData(name string) bool { return dataExts[strings.ToLower(path.Ext(name))] }

// InspectCode is the code run in the kernel before planning to inspect the
// data files at paths (relative to the kernel's working directory). It
// leaves nothing behind in the kernel's namespace.
func InspectCode(paths []string) string {
	list, _ := json.Marshal(paths)
	return inspectSource + "__agentteam_inspect(" + string(list) + ")\ndel __agentteam_inspect\n"
}
