using System.Globalization;
using SynthVlm.Tokenizers;

namespace SynthVlm.Vlm.Prompts;

/// <summary>
/// Turns LLaVA conversations into training ids and labels as LLaVA's train.py does
/// (preprocess_multimodal, then preprocess_plain or preprocess_v1, with tokenizer_image_token),
/// and builds the generation prompt. Where LLaVA would silently mask a whole sample
/// ("tokenization mismatch") or crash or train on a malformed one, the sample is refused with a
/// <see cref="PreparedSample.Rejection"/> instead; one bad sample never stops a batch.
/// Thread-safe.
/// </summary>
public sealed class LlavaPromptEncoder
{
    private readonly int _maxLength;

    /// <summary>Creates the encoder.</summary>
    /// <param name="tokenizer">The LLaMA tokenizer (its <c>legacy</c> flag changes the v1 masking as in LLaVA).</param>
    /// <param name="modelMaxLength">LLaVA's <c>model_max_length</c> (training argument, 2048 for LLaVA-1.5);
    /// the tokenizer's own when null, unlimited when both are null. Only the mismatch rule reads
    /// it: a sample whose rounds reach it is not checked, as in LLaVA. Nothing is truncated here.</param>
    public LlavaPromptEncoder(SentencePieceLlamaTokenizer tokenizer, int? modelMaxLength = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (modelMaxLength is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(modelMaxLength), modelMaxLength, "model_max_length must be positive.");
        }
        Tokenizer = tokenizer;
        ModelMaxLength = modelMaxLength ?? tokenizer.ModelMaxLength;
        _maxLength = ModelMaxLength ?? int.MaxValue;
    }

    /// <summary>The tokenizer.</summary>
    public SentencePieceLlamaTokenizer Tokenizer { get; }

    /// <summary>The model_max_length in force (null: unlimited); truncation to it is the model's job.</summary>
    public int? ModelMaxLength { get; }

    /// <summary>
    /// LLaVA's <c>tokenizer_image_token</c>: the prompt split on "&lt;image&gt;", each chunk tokenized
    /// with BOS; the result is BOS, then each chunk without its first id, with one
    /// <see cref="LlavaTokens.ImageTokenIndex"/> between chunks. (Without add_bos_token, the chunks are
    /// kept whole.)
    /// </summary>
    public int[] TokenizeWithImage(string prompt) => TokenizeWithImage(prompt, LlavaTokens.ImageTokenIndex);

    /// <summary>
    /// <see cref="TokenizeWithImage(string)"/> with another id for the image (tokenizer_image_token's
    /// <c>image_token_index</c>; llava-hf folders use their added "&lt;image&gt;" token, 32000 for LLaVA-1.5).
    /// </summary>
    public int[] TokenizeWithImage(string prompt, int imageTokenIndex)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var chunks = prompt.Split(LlavaTokens.ImageToken).Select(c => Tokenizer.Encode(c)).ToArray();
        var ids = new List<int>();
        var offset = 0;
        if (chunks.Length > 0 && chunks[0].Length > 0 && chunks[0][0] == Tokenizer.BosId)
        {
            offset = 1;
            ids.Add(Tokenizer.BosId);
        }
        for (var i = 0; i < chunks.Length; i++)
        {
            if (i > 0)
            {
                ids.Add(imageTokenIndex);
            }
            ids.AddRange(chunks[i].AsSpan(Math.Min(offset, chunks[i].Length)));
        }
        return [.. ids];
    }

    /// <summary>
    /// The ids LLaVA's evaluation feeds the model for one image and one question:
    /// tokenizer_image_token(vicuna_v1 system + " USER: &lt;image&gt;\n" + prompt + " ASSISTANT:").
    /// </summary>
    /// <exception cref="ArgumentException">The prompt contains "&lt;image&gt;" itself.</exception>
    public int[] EncodeGenerationPrompt(string userPrompt) => EncodeGenerationPrompt(userPrompt, LlavaTokens.ImageTokenIndex);

    /// <summary><see cref="EncodeGenerationPrompt(string)"/> with another id for the image (see <see cref="TokenizeWithImage(string, int)"/>).</summary>
    /// <exception cref="ArgumentException">The prompt contains "&lt;image&gt;" itself.</exception>
    public int[] EncodeGenerationPrompt(string userPrompt, int imageTokenIndex)
    {
        ArgumentNullException.ThrowIfNull(userPrompt);
        if (userPrompt.Contains(LlavaTokens.ImageToken, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The user prompt must not contain {LlavaTokens.ImageToken}; the image goes first on its own: '{userPrompt}'.", nameof(userPrompt));
        }
        var template = ConversationTemplate.VicunaV1;
        return TokenizeWithImage(
            template.GetPrompt([
                (template.UserRole, LlavaTokens.ImageToken + "\n" + userPrompt),
                (template.AssistantRole, null),
            ]),
            imageTokenIndex);
    }

    /// <summary>
    /// Encodes one conversation with <paramref name="template"/>, or refuses it (see
    /// <see cref="PreparedSample.Rejection"/>) when: a turn is not from "human" or "gpt"; an answer is
    /// empty; the sample has an image and not exactly one "&lt;image&gt;", or has none and an
    /// "&lt;image&gt;"; plain: not exactly [human with the image, gpt]; vicuna_v1 (after dropping a
    /// first turn not from human, as LLaVA does): humans not on even turns and gpt on odd ones, or
    /// no final answer; or LLaVA's tokenization-mismatch rule fires.
    /// </summary>
    public PreparedSample Encode(LlavaConversation conversation, ConversationTemplate template)
    {
        ArgumentNullException.ThrowIfNull(conversation);
        ArgumentNullException.ThrowIfNull(template);
        var id = conversation.Id;
        var hasImage = conversation.HasImage;
        PreparedSample Reject(string reason) => PreparedSample.Rejected(id, hasImage, reason);

        var turns = conversation.Turns;
        if (turns.Count == 0)
        {
            return Reject("the conversation has no turns.");
        }
        var images = 0;
        for (var i = 0; i < turns.Count; i++)
        {
            var turn = turns[i];
            if (turn.From is not (LlavaTurn.Human or LlavaTurn.Gpt))
            {
                return Reject(Invariant($"turn {i} is from '{turn.From}', expected '{LlavaTurn.Human}' or '{LlavaTurn.Gpt}'."));
            }
            if (turn.From == LlavaTurn.Gpt && PyStrip(turn.Value).Length == 0)
            {
                return Reject(Invariant($"turn {i} is an empty answer."));
            }
            images += CountImageTokens(turn.Value);
        }
        if (hasImage && images != 1)
        {
            return Reject(images == 0
                ? $"the sample has image '{conversation.Image}' but no {LlavaTokens.ImageToken} in any turn."
                : Invariant($"expected one {LlavaTokens.ImageToken}, found {images}."));
        }
        if (!hasImage && images != 0)
        {
            return Reject($"{LlavaTokens.ImageToken} in a sample without an image.");
        }

        var values = turns.Select(t => t.Value).ToArray();
        if (hasImage)
        {
            PreprocessMultimodal(values);
        }
        return template.Style switch
        {
            SeparatorStyle.Plain => EncodePlain(id, hasImage, turns, values),
            SeparatorStyle.Two => EncodeTwo(id, hasImage, turns, values, template),
            _ => throw new ArgumentOutOfRangeException(nameof(template), template.Style, "Unknown separator style."),
        };
    }

    // preprocess_plain: "<image>" + answer + sep; the image part is masked.
    private PreparedSample EncodePlain(string id, bool hasImage, IReadOnlyList<LlavaTurn> turns, string[] values)
    {
        if (turns.Count != 2)
        {
            return PreparedSample.Rejected(id, hasImage, Invariant($"the plain template needs exactly 2 turns (human with {LlavaTokens.ImageToken}, gpt), found {turns.Count}."));
        }
        if (turns[0].From != LlavaTurn.Human || turns[1].From != LlavaTurn.Gpt)
        {
            return PreparedSample.Rejected(id, hasImage, $"the plain template needs turns [human, gpt], found [{turns[0].From}, {turns[1].From}].");
        }
        if (!hasImage || CountImageTokens(values[0]) != 1)
        {
            return PreparedSample.Rejected(id, hasImage, $"the plain template needs the image, with {LlavaTokens.ImageToken} in the first (human) turn.");
        }
        var text = LlavaTokens.ImageToken + values[1] + ConversationTemplate.Plain.Sep;
        var inputIds = TokenizeWithImage(text);
        var labels = (int[])inputIds.Clone();
        var masked = Math.Min(TokenizeWithImage(LlavaTokens.ImageToken).Length, labels.Length);
        labels.AsSpan(0, masked).Fill(LlavaTokens.IgnoreIndex);
        return new PreparedSample(id, inputIds, labels, hasImage, null);
    }

    // preprocess_v1 (SeparatorStyle.TWO).
    private PreparedSample EncodeTwo(string id, bool hasImage, IReadOnlyList<LlavaTurn> turns, string[] values, ConversationTemplate template)
    {
        var first = turns[0].From == LlavaTurn.Human ? 0 : 1; // LLaVA drops a first turn not from the human
        var messages = new List<(string Role, string? Message)>();
        for (var i = first; i < turns.Count; i++)
        {
            var expected = (i - first) % 2 == 0 ? LlavaTurn.Human : LlavaTurn.Gpt;
            if (turns[i].From != expected)
            {
                return PreparedSample.Rejected(id, hasImage, Invariant($"turn {i} is from '{turns[i].From}', expected '{expected}' (human and gpt alternate, human first)."));
            }
            messages.Add((expected == LlavaTurn.Human ? template.UserRole : template.AssistantRole, values[i]));
        }
        if (messages.Count == 0 || messages.Count % 2 != 0)
        {
            return PreparedSample.Rejected(id, hasImage, "the conversation does not end with an answer from gpt.");
        }
        if (hasImage && first == 1 && CountImageTokens(values[0]) > 0)
        {
            return PreparedSample.Rejected(id, hasImage, $"the {LlavaTokens.ImageToken} is in the dropped first turn (from gpt).");
        }

        var conversation = template.GetPrompt(messages);
        int[] Tokenize(string s) => hasImage ? TokenizeWithImage(s) : Tokenizer.Encode(s);
        var inputIds = Tokenize(conversation);
        var labels = (int[])inputIds.Clone();
        var padId = Tokenizer.UnkId; // LLaVA sets pad_token = unk_token for the v1 and plain versions
        var totalLen = inputIds.Count(t => t != padId);
        var sep = template.Sep + template.AssistantRole + ": ";
        var rounds = conversation.Split(template.Sep2!);
        var curLen = 1;
        labels[0] = LlavaTokens.IgnoreIndex;
        for (var i = 0; i < rounds.Length; i++)
        {
            var round = rounds[i];
            if (round.Length == 0)
            {
                break;
            }
            var parts = round.Split(sep);
            if (parts.Length != 2)
            {
                break;
            }
            var roundLen = Tokenize(round).Length;
            var instructionLen = Tokenize(parts[0] + sep).Length - 2;
            if (i != 0 && !Tokenizer.Legacy)
            {
                roundLen--;
                instructionLen--;
            }
            Mask(labels, curLen, curLen + instructionLen);
            curLen += roundLen;
        }
        Mask(labels, curLen, labels.Length);
        if (curLen < _maxLength && curLen != totalLen)
        {
            return PreparedSample.Rejected(id, hasImage, Invariant(
                $"tokenization mismatch: the rounds cover {curLen} ids, the conversation has {totalLen} (LLaVA would mask the whole sample; an answer containing {template.Sep2} or the tokenizer's unk/pad token, or a tokenizer that splits rounds differently, does this)."));
        }
        return new PreparedSample(id, inputIds, labels, hasImage, null);
    }

    private static void Mask(int[] labels, int from, int to)
    {
        from = Math.Clamp(from, 0, labels.Length);
        to = Math.Clamp(to, from, labels.Length);
        labels.AsSpan(from, to - from).Fill(LlavaTokens.IgnoreIndex);
    }

    // preprocess_multimodal: a turn with "<image>" gets it removed, stripped, and put in front ("<image>\n" + rest), stripped.
    private static void PreprocessMultimodal(string[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i].Contains(LlavaTokens.ImageToken, StringComparison.Ordinal))
            {
                var rest = PyStrip(values[i].Replace(LlavaTokens.ImageToken, "", StringComparison.Ordinal));
                values[i] = PyStrip(LlavaTokens.ImageToken + "\n" + rest);
            }
        }
    }

    private static int CountImageTokens(string text)
    {
        var count = 0;
        for (var at = text.IndexOf(LlavaTokens.ImageToken, StringComparison.Ordinal); at >= 0; at = text.IndexOf(LlavaTokens.ImageToken, at + LlavaTokens.ImageToken.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    // Python's str.strip(): .NET's white space plus the separators \x1c-\x1f that Python also strips.
    private static string PyStrip(string s)
    {
        static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';
        var start = 0;
        var end = s.Length;
        while (start < end && IsSpace(s[start]))
        {
            start++;
        }
        while (end > start && IsSpace(s[end - 1]))
        {
            end--;
        }
        return s[start..end];
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
