"""An Ollama Modelfile beside an exported GGUF: FROM, the stop tokens, and a TEMPLATE for chat formats honed knows.

Ollama writes prompts with Go templates, not the Jinja chat template inside the GGUF, so the families honed
recognises get their Go template here (the forms Ollama's own library uses). For any other chat template the
Modelfile has no TEMPLATE and Ollama falls back to what it derives from the template embedded in the GGUF.
"""

from __future__ import annotations

from pathlib import Path

CHATML = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

LLAMA3 = """{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""

MISTRAL = """{{- range $i, $_ := .Messages }}
{{- if eq .Role "user" }}[INST] {{ if and $.System (eq (len (slice $.Messages $i)) 1) }}{{ $.System }}

{{ end }}{{ .Content }}[/INST]
{{- else if eq .Role "assistant" }} {{ .Content }}</s>
{{- end }}
{{- end }}"""

# Ollama library's gemma3:270m template: a system prompt opens the first user turn, as Gemma 3's Jinja template
# writes it; the assistant's turn is "model". No <bos>: Ollama adds it, as the GGUF's add_bos_token says.
GEMMA = """{{- $systemPromptAdded := false }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{- if (and (not $systemPromptAdded) $.System) }}
{{- $systemPromptAdded = true }}
{{ $.System }}
{{ end }}
{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""

# (family, marker that identifies it in a Jinja chat template, Go template)
FAMILIES = (("ChatML", "<|im_start|>", CHATML), ("Llama 3", "<|start_header_id|>", LLAMA3),
            ("Mistral", "[INST]", MISTRAL), ("Gemma", "<start_of_turn>", GEMMA))


def chat_family(chat_template: str | None) -> tuple[str, str] | None:
    """(family name, Ollama template) for a recognised chat template, else None."""
    for family, marker, template in FAMILIES:
        if chat_template and marker in chat_template:
            return family, template
    return None


def modelfile_path(gguf_path: Path) -> Path:
    """`out/support.gguf` -> `out/support.Modelfile`: several exports can share a folder."""
    return gguf_path.with_suffix(".Modelfile")


def modelfile(source: str, tokenizer, adapter: str | None = None) -> tuple[str, str]:
    """(Modelfile text, a note for the user). `source` is the FROM line's model; `adapter` an ADAPTER file."""
    from honed.generation import stop_token_ids

    lines = [f"FROM {source}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    family = chat_family(tokenizer.chat_template)
    if family is None:
        known = ", ".join(name for name, _, _ in FAMILIES)
        note = f"chat template not one honed recognises ({known}): the Modelfile has no TEMPLATE, so Ollama uses " \
               "the one it derives from the chat template embedded in the GGUF"
        lines.append("# " + note)
    else:
        note = f"{family[0]} chat template"
        lines.append(f'TEMPLATE """{family[1]}"""')
        system = default_system_prompt(tokenizer) if family[0] == "ChatML" else None
        if system:
            lines.append(f'SYSTEM """{system}"""')
    for token in dict.fromkeys(tokenizer.convert_ids_to_tokens(stop_token_ids(tokenizer))):
        lines.append(f'PARAMETER stop "{token}"')
    return "\n".join(lines) + "\n", note


def default_system_prompt(tokenizer) -> str | None:
    """The system message a ChatML template inserts when a conversation has none (SmolLM2's "You are a helpful AI
    assistant named SmolLM..."), so Ollama's prompts match the template's."""
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "?"}], tokenize=False)
    head = "<|im_start|>system\n"
    if not rendered.startswith(head) or "<|im_end|>" not in rendered:
        return None
    return rendered[len(head):rendered.index("<|im_end|>")]
