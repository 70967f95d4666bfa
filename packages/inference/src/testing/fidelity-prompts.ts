/**
 * Prompts whose quoted text the reference pack's tests draw and read back with OCR,
 * none of them written for the pack: mixed case, digits, punctuation, letters a small
 * font confuses (N/W/H, O/0, A/H), spans up to 24 characters, several spans, other
 * quote marks, and colours that reach the sign.
 */
export const ASCII_TEXT_PROMPTS: readonly string[] = [
  'a purple evening sky with a "NOW OPEN" sign',
  'a red brick road under a "STOP" sign',
  'a yellow banner that says "BANANA AND MANGO"',
  'a poster reading "GRAND OPENING SALE"',
  'a blue wall with the words "OPEN 24 HOURS"',
  'a green field and a sign saying "FRESH EGGS"',
  'a pink cake with "HAPPY BIRTHDAY ANNA" written on it',
  'a caption "WELCOME HOME"',
  'a label that says "ORGANIC HONEY 500G"',
  'a headline "MARKET DAY" above a small orange sun',
  'a title "NORTH WIND"',
  'the text "Hello World" on a plain background',
  'a brown board with "Fresh Bread Daily"',
  'a sign reading "Parking 2 Hours"',
  'a black background with "NIGHT OWL CAFE"',
  'a teal sea and a banner "SUMMER SALE 50% OFF"',
  'a gold frame with "QUICK BROWN FOX JUMPS 24"',
  'a white card "MINT TEA 3.50"',
  'a navy sky with the slogan "Dream Big"',
  'a sign "NO WAY OUT" and a red arrow',
  'a label "HAND MADE WOOL"',
  'two signs: "EXIT" and "ENTRANCE"',
  "a shop window with 'OPEN NOW'",
  'a banner “WINTER MARKET 2026”',
];

export const CHINESE_TEXT_PROMPTS: readonly string[] = [
  'a red lantern with "新年快乐"',
  'a sign that says "欢迎光临"',
  'a shop sign "北京烤鸭"',
  'a banner 「春节快乐」',
  'a label "小心地滑"',
  'a sign "禁止吸烟"',
  'a door sign "营业中"',
  'a cake with "生日快乐"',
  'a poster "天天向上"',
  'a scroll "学而时习之"',
  'a title "你好世界"',
  'a green sign "出口"',
];
