using System.Text.RegularExpressions;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The VQA answer normalisation shared by VQAv2, VizWiz and TextVQA, in the three flavours the
/// official code has: the VQA challenge's <c>vqaEval.py</c> (GT-Vision-Lab/VQA, Python 2), LLaVA's
/// <c>EvalAIAnswerProcessor</c> (llava/eval/m4c_evaluator.py, from MMF, Python 3) and the VizWiz
/// challenge's <c>vqaEval.py</c> (Python 3, its own contraction table).
/// </summary>
/// <remarks>
/// Quirks reproduced on purpose:
/// <list type="bullet">
/// <item>Punctuation: each of <c>; / [ ] " { } ( ) = + \ _ - &gt; &lt; @ ` , ? !</c> is deleted when the
/// <em>original</em> text has it next to a space (either side) or has a digit-comma-digit anywhere,
/// and replaced by a space otherwise; the test is on the text before any replacement.</item>
/// <item>Periods: the pattern <c>(?!&lt;=\d)(\.)(?!\d)</c> is a look-ahead (not a look-behind), so every
/// period not followed by a digit goes; and the scripts pass <c>re.UNICODE</c> (= 32) as
/// <c>re.sub</c>'s <em>count</em>, so at most 32 periods are removed.</item>
/// <item>Digits: Python 2's <c>\d</c> in <c>vqaEval.py</c> is ASCII only; Python 3's (EvalAI, VizWiz) is any Unicode decimal digit.</item>
/// <item>Words: lower-cased, split on whitespace, number words "none"/"zero".."ten" become digits, "a", "an",
/// "the" are dropped, then contractions are restored from a table whose keys include unreachable
/// capitalised ones ("Im", "Ive") and a reversed entry ("somebody'd" becomes "somebodyd").</item>
/// <item>EvalAI's full processor first lower-cases, deletes every "," and "?", writes "'s" as " 's" and strips;
/// because the commas are gone its digit-comma-digit test never fires ("10,000" becomes "10000").</item>
/// </list>
/// </remarks>
public sealed class VqaAnswerNormalizer
{
    // The punctuation list in the official order (order matters only for overlapping replacements, which there are none of).
    private static readonly string[] PunctuationMarks = [";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"];

    private static readonly string[] Articles = ["a", "an", "the"];

    private static readonly Dictionary<string, string> NumberWords = new(StringComparer.Ordinal)
    {
        ["none"] = "0", ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4",
        ["five"] = "5", ["six"] = "6", ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10",
    };

    // key=value pairs of the VQA / EvalAI contraction table (identical in vqaEval.py and m4c_evaluator.py).
    private const string VqaContractionTable =
        "aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've " +
        "couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've " +
        "hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's " +
        "howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd " +
        "itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't " +
        "mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've " +
        "neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at " +
        "'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've " +
        "shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd " +
        "somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll somebodys=somebody's " +
        "someoned=someone'd someoned've=someone'd've someone'dve=someone'd've someonell=someone'll " +
        "someones=someone's somethingd=something'd somethingd've=something'd've something'dve=something'd've " +
        "somethingll=something'll thats=that's thered=there'd thered've=there'd've there'dve=there'd've " +
        "therere=there're theres=there's theyd=they'd theyd've=they'd've they'dve=they'd've theyll=they'll " +
        "theyre=they're theyve=they've twas='twas wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've " +
        "werent=weren't whatll=what'll whatre=what're whats=what's whatve=what've whens=when's whered=where'd " +
        "wheres=where's whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's " +
        "whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't " +
        "wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll " +
        "yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've " +
        "you'dve=you'd've youll=you'll youre=you're youve=you've";

    // The VizWiz challenge's table: most restored apostrophes are U+2019 (’), a few keys and values keep "'".
    private const string VizWizContractionTable =
        "aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn’t’ve " +
        "couldnt’ve=couldn’t’ve didnt=didn’t doesnt=doesn’t dont=don’t hadnt=hadn’t hadnt’ve=hadn’t’ve " +
        "hadn'tve=hadn’t’ve hasnt=hasn’t havent=haven’t hed=he’d hed’ve=he’d’ve he’dve=he’d’ve hes=he’s " +
        "howd=how’d howll=how’ll hows=how’s Id’ve=I’d’ve I’dve=I’d’ve Im=I’m Ive=I’ve isnt=isn’t itd=it’d " +
        "itd’ve=it’d’ve it’dve=it’d’ve itll=it’ll let’s=let’s maam=ma’am mightnt=mightn’t " +
        "mightnt’ve=mightn’t’ve mightn’tve=mightn’t’ve mightve=might’ve mustnt=mustn’t mustve=must’ve " +
        "neednt=needn’t notve=not’ve oclock=o’clock oughtnt=oughtn’t ow’s’at=’ow’s’at ’ows’at=’ow’s’at " +
        "’ow’sat=’ow’s’at shant=shan’t shed’ve=she’d’ve she’dve=she’d’ve she’s=she’s shouldve=should’ve " +
        "shouldnt=shouldn’t shouldnt’ve=shouldn’t’ve shouldn’tve=shouldn’t’ve somebody’d=somebodyd " +
        "somebodyd’ve=somebody’d’ve somebody’dve=somebody’d’ve somebodyll=somebody’ll somebodys=somebody’s " +
        "someoned=someone’d someoned’ve=someone’d’ve someone’dve=someone’d’ve someonell=someone’ll " +
        "someones=someone’s somethingd=something’d somethingd’ve=something’d’ve something’dve=something’d’ve " +
        "somethingll=something’ll thats=that’s thered=there’d thered’ve=there’d’ve there’dve=there’d’ve " +
        "therere=there’re theres=there’s theyd=they’d theyd’ve=they’d’ve they’dve=they’d’ve theyll=they’ll " +
        "theyre=they’re theyve=they’ve twas=’twas wasnt=wasn’t wed’ve=we’d’ve we’dve=we’d’ve weve=we've " +
        "werent=weren’t whatll=what’ll whatre=what’re whats=what’s whatve=what’ve whens=when’s whered=where’d " +
        "wheres=where's whereve=where’ve whod=who’d whod’ve=who’d’ve who’dve=who’d’ve wholl=who’ll whos=who’s " +
        "whove=who've whyll=why’ll whyre=why’re whys=why’s wont=won’t wouldve=would’ve wouldnt=wouldn’t " +
        "wouldnt’ve=wouldn’t’ve wouldn’tve=wouldn’t’ve yall=y’all yall’ll=y’all’ll y’allll=y’all’ll " +
        "yall’d’ve=y’all’d’ve y’alld’ve=y’all’d’ve y’all’dve=y’all’d’ve youd=you’d youd’ve=you’d’ve " +
        "you’dve=you’d’ve youll=you’ll youre=you’re youve=you’ve";

    private readonly Regex _commaTest;
    private readonly Regex _periodStrip;

    private VqaAnswerNormalizer(string name, string commaPattern, string periodPattern, IReadOnlyDictionary<string, string> contractions)
    {
        Name = name;
        _commaTest = new Regex(commaPattern, RegexOptions.CultureInvariant);
        _periodStrip = new Regex(periodPattern, RegexOptions.CultureInvariant);
        Contractions = contractions;
    }

    /// <summary>GT-Vision-Lab/VQA <c>vqaEval.py</c> (Python 2: ASCII digits; comma test <c>(\d)(\,)(\d)</c>).</summary>
    public static VqaAnswerNormalizer VqaEval { get; } = new("vqaEval", "([0-9])(,)([0-9])", @"(?!<=[0-9])(\.)(?![0-9])", ParseTable(VqaContractionTable));

    /// <summary>LLaVA's <c>EvalAIAnswerProcessor</c> (Python 3; comma test <c>(?&lt;=\d)(\,)+(?=\d)</c>).</summary>
    public static VqaAnswerNormalizer EvalAi { get; } = new("EvalAIAnswerProcessor", @"(?<=\d)(,)+(?=\d)", @"(?!<=\d)(\.)(?!\d)", VqaEval.Contractions);

    /// <summary>The VizWiz challenge's <c>vqaEval.py</c> (Python 3: Unicode digits; comma test <c>(\d)(\,)(\d)</c>; its own contraction table, whose restored apostrophes are mostly U+2019).</summary>
    public static VqaAnswerNormalizer VizWiz { get; } = new("VizWiz vqaEval", @"(\d)(,)(\d)", @"(?!<=\d)(\.)(?!\d)", ParseTable(VizWizContractionTable));

    /// <summary>The name of the official code this flavour follows.</summary>
    public string Name { get; }

    /// <summary>The contraction table (keys as the official code has them, unreachable ones included).</summary>
    public IReadOnlyDictionary<string, string> Contractions { get; }

    /// <summary>The number words and what they become.</summary>
    public static IReadOnlyDictionary<string, string> NumberWordMap => NumberWords;

    /// <summary>LLaVA's <c>EvalAIAnswerProcessor()(answer)</c>: what convert_vqav2/vizwiz_for_submission.py upload and TextVQA compares.</summary>
    public static string EvalAiAnswer(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var item = PythonText.LowerInvariant(answer).Replace(",", "", StringComparison.Ordinal).Replace("?", "", StringComparison.Ordinal).Replace("'s", " 's", StringComparison.Ordinal);
        item = PythonText.Strip(item);
        item = PythonText.Strip(item.Replace("\n", " ", StringComparison.Ordinal).Replace("\t", " ", StringComparison.Ordinal));
        item = EvalAi.ProcessPunctuation(item);
        return EvalAi.ProcessDigitArticle(item);
    }

    /// <summary><c>processPunctuation</c>: punctuation deleted or spaced (see the remarks), then up to 32 periods not followed by a digit removed.</summary>
    public string ProcessPunctuation(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var commaBetweenDigits = _commaTest.IsMatch(text);
        var output = text;
        foreach (var p in PunctuationMarks)
        {
            var delete = commaBetweenDigits || text.Contains(p + " ", StringComparison.Ordinal) || text.Contains(" " + p, StringComparison.Ordinal);
            output = output.Replace(p, delete ? "" : " ", StringComparison.Ordinal);
        }
        return _periodStrip.Replace(output, "", 32);
    }

    /// <summary><c>processDigitArticle</c>: lower-case, split on whitespace, number words to digits, articles dropped, contractions restored, joined by single spaces.</summary>
    public string ProcessDigitArticle(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<string>();
        foreach (var raw in PythonText.Split(PythonText.LowerInvariant(text)))
        {
            var word = NumberWords.GetValueOrDefault(raw, raw);
            if (!Articles.Contains(word, StringComparer.Ordinal))
            {
                words.Add(word);
            }
        }
        for (var i = 0; i < words.Count; i++)
        {
            if (Contractions.TryGetValue(words[i], out var restored))
            {
                words[i] = restored;
            }
        }
        return string.Join(' ', words);
    }

    /// <summary><c>processPunctuation</c> then <c>processDigitArticle</c>.</summary>
    public string Normalize(string text) => ProcessDigitArticle(ProcessPunctuation(text));

    private static Dictionary<string, string> ParseTable(string table)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in table.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            map[pair[..eq]] = pair[(eq + 1)..];
        }
        return map;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
