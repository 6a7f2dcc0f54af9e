"""honed eval: score a run (or a base model) on test data, optionally against a baseline."""

from __future__ import annotations

from honed.metrics import describe_metrics, metric_names

HELP = (f"evaluate a run directory or model on test data ({', '.join(metric_names())}; the run's eval.rewards; "
        "JSON validity and per-field accuracy when the references are JSON objects), optionally against a baseline "
        "and with drift outside the domain against the base; on preference pairs (prompt, chosen, rejected): reward "
        "accuracy and margin against the run's starting point")


def register(subparsers) -> None:
    from honed.rewards import describe_rewards

    parser = subparsers.add_parser("eval", help=HELP, description=HELP,
                                   epilog=f"rewards (eval.rewards, training.rewards): {describe_rewards()}")
    parser.add_argument("target", help="run directory, or a base model name/path")
    parser.add_argument("--data", help="test file (default: data.test of the run's config)")
    parser.add_argument("--baseline", help="'base' (the run's base model) or another run directory/model; on "
                        "preference pairs, the reference (default: the run's --from run, else its base model)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument("--max-new-tokens", type=int, help="most tokens per answer (default 128)")
    parser.add_argument("--batch-size", type=int, help="prompts generated together (default 16)")
    parser.add_argument("--temperature", type=float, help="0 = greedy (default)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="weights' dtype while generating (default auto: bf16 where this CPU runs it fast; "
                             "fp32 answers exactly as transformers does)")
    parser.add_argument("--metrics", metavar="A,B,...",
                        help=f"a comma-separated subset (default: all) of {describe_metrics()}")
    parser.add_argument("--drift", choices=["auto", "off", "sample", "full"],
                        help="how far the run moved on general prompts outside its domain: sample (40 of the general "
                             "set, 16 answered), full (all), off; default auto: sample when --baseline is base")
    parser.add_argument("--general", metavar="FILE",
                        help="your own general prompts for drift (JSONL rows with 'prompt', or one per line in a "
                             ".txt file); default: the bundled set of 200")
    parser.add_argument("--examples", type=int, default=3, help="examples to print (default 3)")
    parser.add_argument("--output", help="folder for eval.json, predictions.jsonl, report.md")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.evaluation.rewards import holds_preferences

    if holds_preferences(args.data, args.target):
        return _run_on_preferences(args)
    import honed
    from honed.evaluation.settings import eval_settings
    from honed.evaluation.report import examples_section, metrics_table, perplexity_notes, telling_examples

    settings = eval_settings(
        limit=args.limit, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        temperature=args.temperature, metrics=args.metrics, precision=args.precision, drift=args.drift,
        general=args.general,
    )
    result = honed.evaluate(args.target, data=args.data, baseline=args.baseline, settings=settings, output=args.output)
    print("\n".join([metrics_table(result), *perplexity_notes(result)]))
    if result.drift is not None:
        from honed.evaluation.drift import drift_line

        print(drift_line(result.drift))
    if args.examples:
        print()
        print(examples_section(result, telling_examples(result, args.examples)))
    print(f"written: {result.output_dir}/eval.json, predictions.jsonl, report.md")
    return 0


def _run_on_preferences(args) -> int:
    from honed.errors import UserError
    from honed.evaluation.report import reward_table
    from honed.evaluation.rewards import evaluate_preferences

    flags = {"--max-new-tokens": args.max_new_tokens, "--batch-size": args.batch_size,
             "--temperature": args.temperature, "--metrics": args.metrics, "--precision": args.precision,
             "--drift": args.drift, "--general": args.general}
    unused = [flag for flag, value in flags.items() if value is not None]
    if unused:
        raise UserError(f"{', '.join(unused)}: not used on preference pairs, which are scored, not generated")

    result = evaluate_preferences(args.target, data=args.data, baseline=args.baseline, output=args.output,
                                  limit=args.limit)
    print(reward_table(result))
    print(f"written: {result.output_dir}/eval.json, rewards.jsonl, report.md")
    return 0
