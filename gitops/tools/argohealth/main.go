// Command argohealth runs an Argo CD resource health script in gopher-lua, the Lua 5.1 interpreter Argo CD embeds,
// with the libraries Argo CD opens for it (base, table, string, math) and the resource as the global `obj`. It
// reads one JSON object per line on stdin, {"script": "<path>", "obj": {...}}, and writes one JSON line per input:
// {"status": ..., "message": ...} or {"error": ...}. The tests run every check in this interpreter as well as in
// Debian's Lua 5.4, so a construct that only one dialect accepts fails them.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

type request struct {
	Script string         `json:"script"`
	Obj    map[string]any `json:"obj"`
}

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// toLua converts decoded JSON into Lua values the way Argo CD does: objects and arrays become tables, null is nil.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, item := range x {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	default:
		panic(fmt.Sprintf("unexpected JSON value %T", v))
	}
}

func health(req request) result {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenTable, lua.OpenString, lua.OpenMath} {
		L.Push(L.NewFunction(open))
		L.Call(0, 0)
	}
	L.SetGlobal("obj", toLua(L, req.Obj))
	if err := L.DoFile(req.Script); err != nil {
		return result{Error: err.Error()}
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return result{Error: "the health script returned no table"}
	}
	status, ok := hs.RawGetString("status").(lua.LString)
	if !ok {
		return result{Error: "the health script returned no status"}
	}
	message, _ := hs.RawGetString("message").(lua.LString)
	return result{Status: string(status), Message: string(message)}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "argohealth: a line of stdin is not a request: %v\n", err)
			os.Exit(2)
		}
		if err := out.Encode(health(req)); err != nil {
			fmt.Fprintf(os.Stderr, "argohealth: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "argohealth: reading stdin: %v\n", err)
		os.Exit(1)
	}
}
