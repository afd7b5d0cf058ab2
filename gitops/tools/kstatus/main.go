// Command kstatus prints what Flux (and every kstatus consumer: Helm 4's --wait, kpt, Config Sync) concludes from a
// resource's status: it reads one JSON object per line on stdin and writes one JSON line per object with the
// status kstatus computes (InProgress, Current, Failed, Terminating, Unknown) and its message. It is the real
// kstatus library Flux vendors, so the test of our CRDs' status checks the rules themselves, not a copy of them.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		// apimachinery's decoder keeps integers as int64, as the API server's objects have them.
		var obj map[string]interface{}
		if err := utiljson.Unmarshal(in.Bytes(), &obj); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: a line of stdin is not a JSON object: %v\n", err)
			os.Exit(2)
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: obj})
		r := result{}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Status = res.Status.String()
			r.Message = res.Message
		}
		if err := out.Encode(r); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(1)
	}
}
