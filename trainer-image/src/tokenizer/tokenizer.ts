// A model directory's tokenizer: tokenizer.json through @huggingface/tokenizers, special tokens and the chat
// template from tokenizer_config.json (or chat_template.jinja), rendered with @huggingface/jinja. Local files only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export interface ChatMessage {
  role: string;
  content: string;
}

async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new TokenizerError(`${path}: cannot be read (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(`${path}: is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TokenizerError(`${path}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** A special token named in tokenizer_config.json: a string or an AddedToken-like {content}. */
function tokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

function compileTemplate(source: string, where: string): Template {
  try {
    return new Template(source);
  } catch (err) {
    throw new TokenizerError(`${where}: chat template does not parse (${(err as Error).message})`);
  }
}

export class TextTokenizer {
  readonly dir: string;
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;
  private readonly templateSource: string | null;

  private constructor(dir: string, tokenizer: Tokenizer, config: Record<string, unknown>, template: string | null) {
    this.dir = dir;
    this.tokenizer = tokenizer;
    this.vocabSize = tokenizer.get_vocab(true).size;
    const id = (token: string | null, key: string): number | null => {
      if (token === null) return null;
      const found = tokenizer.token_to_id(token);
      if (found === undefined) {
        throw new TokenizerError(`${join(dir, 'tokenizer_config.json')}: ${key} "${token}" is not in the vocabulary`);
      }
      return found;
    };
    this.bosToken = tokenContent(config.bos_token);
    this.eosToken = tokenContent(config.eos_token);
    this.padToken = tokenContent(config.pad_token);
    this.bosId = id(this.bosToken, 'bos_token');
    this.eosId = id(this.eosToken, 'eos_token');
    this.padId = id(this.padToken, 'pad_token');
    this.templateSource = template;
    this.template = template === null ? null : compileTemplate(template, dir);
  }

  static async load(dir: string): Promise<TextTokenizer> {
    const json = (await readJson(join(dir, 'tokenizer.json'), true)) as Record<string, unknown>;
    const config = (await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {};
    const model = json.model as { type?: unknown } | undefined;
    if (typeof model !== 'object' || model === null || typeof model.type !== 'string') {
      throw new TokenizerError(`${join(dir, 'tokenizer.json')}: has no "model" with a "type"`);
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new TokenizerError(`${join(dir, 'tokenizer.json')}: cannot be loaded (${(err as Error).message})`);
    }
    let template: string | null = null;
    const fromConfig = config.chat_template;
    if (typeof fromConfig === 'string') template = fromConfig;
    else if (Array.isArray(fromConfig)) {
      const named = fromConfig.find((t) => (t as { name?: unknown })?.name === 'default') as { template?: unknown };
      if (typeof named?.template !== 'string') {
        throw new TokenizerError(`${join(dir, 'tokenizer_config.json')}: chat_template list has no "default" template`);
      }
      template = named.template;
    } else if (fromConfig !== undefined && fromConfig !== null) {
      throw new TokenizerError(`${join(dir, 'tokenizer_config.json')}: chat_template must be a string or a list`);
    } else {
      template = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => null);
    }
    return new TextTokenizer(dir, tokenizer, config, template);
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  encode(text: string, addSpecialTokens = false): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Renders messages with the model's chat template, as transformers' apply_chat_template(tokenize=False). */
  applyChatTemplate(messages: readonly ChatMessage[], addGenerationPrompt = false): string {
    if (this.template === null) {
      throw new TokenizerError(`${this.dir}: the tokenizer has no chat template (tokenizer_config.json chat_template)`);
    }
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
        pad_token: this.padToken ?? '',
      });
    } catch (err) {
      throw new TokenizerError(`${this.dir}: chat template failed to render (${(err as Error).message})`);
    }
  }

  get chatTemplate(): string | null {
    return this.templateSource;
  }
}
