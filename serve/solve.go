package serve

import (
	"context"
	"errors"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/solve"
)

// SolvePipeline runs each job with the solve pipeline. newRunner is called
// once per run (a replayed model, for one, must start from its first answer
// every time); the job's directory is the run's output directory.
func SolvePipeline(newRunner func(job Job) (*solve.Runner, error)) Pipeline {
	return PipelineFunc(func(ctx context.Context, job Job, emit func(Event)) Outcome {
		r, err := newRunner(job)
		if err != nil {
			return Outcome{Cause: CauseError, Reason: "could not start the run", Err: err}
		}
		task := solve.Task{Text: job.Task, OutDir: job.Dir}
		for _, name := range sortedKeys(job.Inputs) {
			task.Files = append(task.Files, solve.File{Name: name, Path: job.Inputs[name]})
		}
		var sum *solve.Summary
		var runErr error
		for ev, err := range r.Run(ctx, task) {
			if err != nil {
				runErr = err
				break
			}
			out := Event{Data: ev}
			if m := ev.Message; m != nil {
				if m.Kind == agents.KindCodeExecution {
					out.Executions = len(m.Executions)
				}
				if m.Usage != nil && m.Kind != agents.KindChunk {
					out.Usage = Usage{PromptTokens: m.Usage.PromptTokens, CompletionTokens: m.Usage.CompletionTokens}
				}
			}
			if ev.Type == solve.EventSummary {
				sum = ev.Summary
			}
			emit(out)
		}
		if sum == nil {
			if runErr == nil {
				runErr = errors.New("the run ended without a summary")
			}
			return Outcome{Cause: CauseError, Reason: runErr.Error(), Err: runErr}
		}
		o := Outcome{Cause: StopCause(sum.Cause), Reason: sum.Reason, FinalAnswer: sum.FinalAnswer, Turns: sum.Turns}
		if sum.Usage != nil {
			o.Usage = Usage{PromptTokens: sum.Usage.PromptTokens, CompletionTokens: sum.Usage.CompletionTokens}
		}
		if sum.Cause == solve.ModelError || sum.Cause == solve.KernelError {
			o.Err = sum.Err
			if o.Err == nil {
				o.Err = runErr
			}
		}
		return o
	})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}
