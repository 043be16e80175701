// Command lua-health runs an Argo CD resource health script over Kubernetes objects, with the
// same interpreter (gopher-lua) and the same sandbox Argo CD gives scripts from argocd-cm:
// only the package, base and table libraries plus a safe os (time, date, clock), no string
// library, a one-second deadline, and the object bound to the global `obj`.
//
// Usage: lua-health SCRIPT.lua OBJECT.yaml...
// Prints one JSON line per object: {"file":..., "status":..., "message":...} or {"file":..., "error":...}.
// A status outside Argo CD's set is reported as Unknown, as Argo CD does.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// sourceHash is stamped by the test harness (-ldflags -X) so that a change to this file changes the
// build cache key.
var sourceHash = "dev"

type result struct {
	File    string `json:"file"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

var validStatus = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(sourceHash)
		return
	}
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: lua-health SCRIPT.lua OBJECT.yaml...")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	failed := false
	for _, file := range os.Args[2:] {
		r := evaluate(string(script), file)
		if r.Error != "" {
			failed = true
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func evaluate(script, file string) result {
	raw, err := os.ReadFile(file)
	if err != nil {
		return result{File: file, Error: err.Error()}
	}
	var obj map[string]interface{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return result{File: file, Error: err.Error()}
	}
	status, message, err := run(script, obj)
	if err != nil {
		return result{File: file, Error: err.Error()}
	}
	return result{File: file, Status: status, Message: message}
}

func run(script string, obj map[string]interface{}) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	}
	for _, lib := range libs {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	ret := l.Get(-1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
	}
	status := lua.LVAsString(tbl.RawGetString("status"))
	message := lua.LVAsString(tbl.RawGetString("message"))
	if !validStatus[status] {
		return "Unknown", "Lua returned an invalid health status", nil
	}
	return status, message, nil
}

// toLua mirrors how Argo CD hands an unstructured object to Lua: maps become hash tables,
// slices become 1-based arrays, numbers become Lua numbers.
func toLua(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]interface{}:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// openSafeOs registers an os table without anything that touches the file system or processes.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int {
			l.Push(lua.LNumber(time.Now().Unix()))
			return 1
		},
		"clock": func(l *lua.LState) int {
			l.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9))
			return 1
		},
		"date": func(l *lua.LState) int {
			l.Push(lua.LString(time.Now().UTC().Format(time.RFC3339)))
			return 1
		},
	})
	l.Push(mod)
	return 1
}
