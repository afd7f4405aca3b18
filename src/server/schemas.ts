// zod schemas of every request body the server accepts (OpenAI's fields plus our documented extensions).
// Unknown fields are dropped silently so clients that send more than we use keep working.
import { z } from "zod";

const MAX_STOP = 16;
const MAX_TOKENS_CAP = 1 << 20;

const stop = z
  .union([z.string().min(1, "a stop string must not be empty"), z.array(z.string().min(1, "a stop string must not be empty")).max(MAX_STOP)])
  .nullish();

const dlm = z
  .union([
    z.boolean(),
    z.object({
      block_size: z.number().int().min(1).max(256).optional(),
      sub_block_size: z.number().int().min(1).max(256).optional(),
      threshold: z.number().min(0).max(2).optional(),
      confidence: z.enum(["prob", "margin"]).optional(),
      mode: z.enum(["greedy", "iterative", "adaptive"]).optional(),
      max_steps_per_block: z.number().int().min(1).max(1024).optional(),
      attention: z.enum(["causal", "block"]).optional(),
      lookahead: z.boolean().optional(),
    }),
  ])
  .nullish();

/** Sampling and length fields shared by chat and completions. */
const common = {
  model: z.string().max(256).nullish(),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_CAP).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).max(1 << 20).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repeat_penalty: z.number().gt(0).max(10).nullish(),
  repeat_last_n: z.number().int().min(0).max(1 << 20).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  seed: z.number().int().min(-(2 ** 53)).max(2 ** 53).nullish(),
  stop,
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.number().int().min(1).max(16).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "logit_bias keys are token ids"), z.number().min(-100).max(100)).nullish(),
  user: z.string().max(512).nullish(),
  ignore_eos: z.boolean().nullish(),
  dlm,
};

const textPart = z.object({ type: z.literal("text"), text: z.string() });

const toolCall = z.object({
  id: z.string().max(256),
  type: z.literal("function"),
  function: z.object({ name: z.string().max(64), arguments: z.string().max(1 << 20) }),
});

export const chatMessage = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart).min(1), z.null()]).optional(),
  name: z.string().max(256).optional(),
  tool_call_id: z.string().max(256).optional(),
  tool_calls: z.array(toolCall).max(64).optional(),
});

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().max(64).optional(),
      description: z.string().optional(),
      schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string().max(64) }) }),
]);

export const chatRequest = z.object({
  ...common,
  messages: z.array(chatMessage).min(1, "messages must contain at least one message"),
  response_format: responseFormat.nullish(),
  tools: z.array(z.unknown()).max(128).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_completion_tokens: z.number().int().min(1).max(MAX_TOKENS_CAP).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});

export const completionRequest = z.object({
  ...common,
  response_format: responseFormat.nullish(),
  prompt: z.union([
    z.string(),
    z.array(z.string()).length(1, "only one prompt per request is supported"),
    z.array(z.number().int().min(0)).min(1),
  ]),
  echo: z.literal(false, "echo is not supported").nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
});

export const tokenizeRequest = z.object({
  content: z.string().max(4 << 20),
  add_special: z.boolean().nullish(),
  parse_special: z.boolean().nullish(),
  with_pieces: z.boolean().nullish(),
});

export const detokenizeRequest = z.object({
  tokens: z.array(z.number().int().min(0)).max(1 << 20),
});

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type CommonRequest = Pick<ChatRequest, keyof typeof common>;
