
abcÿ