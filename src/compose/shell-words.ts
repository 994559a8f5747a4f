// Splits a command string into words as a POSIX shell would, without running
// anything: blanks separate words; 'single quotes' keep everything; "double
// quotes" keep everything but \" \\ \$ \` (escapes); a backslash outside quotes
// escapes the next character. Docker's compose loader does the same (shlex).

export class ShellWordsError extends Error {}

export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "\\") {
      if (i + 1 >= text.length) throw new ShellWordsError("EOF found after escape character");
      // A backslash-newline is a line continuation.
      if (text[i + 1] !== "\n") word += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellWordsError("EOF found when expecting closing quote");
      word += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new ShellWordsError("EOF found when expecting closing quote");
        const d = text[i]!;
        if (d === '"') break;
        if (d === "\\" && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1]!)) {
          if (text[i + 1] !== "\n") word += text[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      i++;
      continue;
    }
    word += c;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}
