/* ragas_prompts.c: the built-in judge prompts (made from lib/prompts/NAME.txt by lib/prompts/make-c.py; test-ragas checks they match). */
#include "config.h"

#include "ragas.h"

static const char *const prompts[RAG_PROMPT_N] = {
	/* statements */
	"Given a question and an answer, break the answer down into standalone statements. Each statement must be fully understandable on its own (no pronouns) and state exactly one fact from the answer. Write one statement per line, each line starting with \"- \", and nothing else.\n"
	"\n"
	"Question: {question}\n"
	"Answer: {answer}\n",
	/* faithfulness */
	"Decide whether the statement can be directly inferred from the context. Reply with 1 if it can, 0 if it cannot.\n"
	"\n"
	"Context:\n"
	"{contexts}\n"
	"\n"
	"Statement: {statement}\n"
	"Verdict (1 or 0):\n",
	/* questions */
	"Write 3 questions that the following answer answers. Write one question per line, each line starting with \"- \", and nothing else.\n"
	"\n"
	"Answer: {answer}\n",
	/* noncommittal */
	"Decide whether the answer is noncommittal: evasive, vague or ambiguous, such as \"I don't know\" or \"I'm not sure\". Reply with 1 if it is noncommittal, 0 if it commits to an answer.\n"
	"\n"
	"Answer: {answer}\n"
	"Verdict (1 or 0):\n",
	/* context_precision */
	"Given a question, a reference answer and a context, decide whether the context was useful in arriving at the reference answer. Reply with 1 if it was useful, 0 if it was not.\n"
	"\n"
	"Question: {question}\n"
	"Reference answer: {reference}\n"
	"Context: {context}\n"
	"Verdict (1 or 0):\n",
	/* context_recall */
	"Given a question and a context, decide whether the sentence below can be attributed to the context. Reply with 1 if it can, 0 if it cannot.\n"
	"\n"
	"Question: {question}\n"
	"Context:\n"
	"{contexts}\n"
	"\n"
	"Sentence: {sentence}\n"
	"Verdict (1 or 0):\n",
	/* claims */
	"Break the text below down into standalone claims. Each claim must be fully understandable on its own (no pronouns) and state exactly one fact. Write one claim per line, each line starting with \"- \", and nothing else.\n"
	"\n"
	"Text: {text}\n",
	/* claim_support */
	"Decide whether the claim can be directly inferred from the premise. Reply with 1 if it can, 0 if it cannot.\n"
	"\n"
	"Premise: {premise}\n"
	"Claim: {claim}\n"
	"Verdict (1 or 0):\n",
};

static const char *const names[RAG_PROMPT_N] = {
	"statements", "faithfulness", "questions", "noncommittal", "context_precision", "context_recall", "claims", "claim_support",
};

const char *rag_ragas_prompt_name(int p)
{
	return p >= 0 && p < RAG_PROMPT_N ? names[p] : NULL;
}

const char *rag_ragas_prompt_default(int p)
{
	return p >= 0 && p < RAG_PROMPT_N ? prompts[p] : NULL;
}
