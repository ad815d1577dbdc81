/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.h — decoding token ids to text with a llama2.c tokenizer.bin.
 */
#ifndef TPT_TOKENIZER_H
#define TPT_TOKENIZER_H

typedef struct tpt_tokenizer tpt_tokenizer;

/* Reads vocab entries of a llama2.c tokenizer.bin (int32 max_token_length, then per
 * token float32 score, int32 length, bytes). NULL after printing why. */
tpt_tokenizer *tpt_tokenizer_load(const char *path, int vocab);
void tpt_tokenizer_free(tpt_tokenizer *t);

/* The text of token after prev, as llama2.c's decode() gives it: the leading space
 * dropped after BOS (1), "<0xNN>" byte tokens turned into that byte, and control
 * bytes other than newline and tab shown as nothing. Valid until the next call. */
const char *tpt_tokenizer_piece(tpt_tokenizer *t, int prev, int token);

#endif
