"""The power-on self-test's known answers: the first ML-KEM-768 and ML-DSA-65 NIST KAT records.

Kept next to the guard so that `x0ctl.pqc` never imports `x0ctl.kat` (which imports `x0ctl.pqc`).
They are the first records of cryptography-vectors' kat_MLKEM_768.rsp and
kat_MLDSA_65_det_pure.rsp, the same as the first vectors of the embedded KAT subset
(tests/test_kat_selftest.py checks that the two stay equal). Byte fields are base64.
"""

ML_KEM_768 = {
    "id": "kat_MLKEM_768.rsp#count=0",
    "d": "bbvEN1E23zsH98cOY54iPhd+f9U7Fhs/TVd5F5TxJiQ=",
    "z": "9pZIQEjsIfls9QpW0HWcRI83eXUvA4PTdElpBpTPemg=",
    "pk": (
        "AfYK8dyOY2CueLWdSlBC65FFomkEbWI2uDBPMFwtncsYn+WmLfibL1p7zju8dTweePcwqZhp+AmrqFa2drcHsmYB0dkJurMk"
        "UUlOt9CiFTpjULeXiamxFfg+oSA3JWVi8GodWro3jadwOdO97Kyo5qIqSQUKdjAKAmfNs4t6x3kDxQylO5koPKxrlfumUbEa"
        "TRppLkByllBgWHZp8lOxuxguZhRGForGAiGJRmACDpu19bcSSgMD4lQ+o+ps6XokgrJVyjRvsnqEezO5Pzqy0zBkxuZjLRoj"
        "8RROkHska0efSlySiSmh4kFQ9SQSWKW2d2amb2ozhGSVkHgo6+ROzFtzEkBxukeQc5EEEKFtXVaWtIsZR1KXl5V3KpHDSPUC"
        "s3qmUJg+u4m/PAgf8nNUQSnJE3puGDTI8ufOFMeHDFPAW5uU7NOOZkWRGwkSM2hj7BaIMfgRiBB1zzilneS1xziqbvA9d5sp"
        "VYjPtiSRzHs+CLSEczVPmsgGHBUqniBZl0mblwtpvOZv5CvKKSTM3wED0KTDkZPC3yURjXKxeqsmsMYNTNLDBspGlsGF3gUD"
        "X0oJz5cK7MjMk0Nvg7Gur0UsQZKaLqvBUZOPdMk7hYVG3yJk7uq2AuBKhcUi+PsaUhSv2NTK5XpHtvOBojEmvZkXFzEor5F/"
        "HUg2kcRQ0RUc/poUktRz7YYuJ9qSUAyGogAZ6fl15PVK0xm6LFYwxAFCGde6I1RW/lMBQBk9ZiRF5qlB0eI4Vnuo1NlascdE"
        "fWkIIYdtAXJwz7Fp8teS8DyAByBpe0EKtBxm8rJFhRJWVesQqhCH/8t3UMuIetRGc3dQCmp9OoKXa0FaVEaVd7QTjZGbA/TJ"
        "pNM5C9y28XF6X6SrJaNPS6UDm7IsfzwjTqRCc0eqclFGTmMZBNfKxHhPeLSdX0oQSjAYCad59kZhMfnGK7ZxR/TNSXOmqhwp"
        "rmqGR7Ymi+CJ/gSM6ZDNY4dD0oXIiacH9YG2OvQXMfAkawVLxLR6qwG2hConCdAugVirkPSLadE2CCs0ywZzt0qj9UUI7QKf"
        "uPUEXuBjnhUO47PIX2ijEOwEQZgBALQqvyutENSp4MeyvFu8r3PLzcSdwslJERk2d5sXiXSgOSlHdFpHGJvD+opnnICvlkqf"
        "mxtWV3J0oqZp0tpnBKpJavQH+hqpZMw9wxQPX5Wafql0vbG4PkipnAo+LXWwZptcEniWJUBgkWYmbaGIhvwjevMM79Vp2+OZ"
        "5mUuRfBqXfyadYpJhwiP+OOKPPNrnZiPDgcLaNC4j3vMQTBggNiJeAx+I4iVzKpPNXciXMpMipMwzmE+cXeYyWcJJLJxrEAr"
        "UVOLi1lnrEkNyrUwDmxU1qNjLzuXPkGG7hp+LoVkkYWyY3DDhyNcTfKKmTeknUB4v4g/TmNGyzJR2eE/G9oIeyha+qgOJiZB"
        "xVJ7ChhLi8hKYuV3MUZY4gKdhQBk96e4HyU+fMEkqcWwOdybF5qAwvau5uoIFRclNzMaV7UFuqdv9bTB8Np1S2GU9LOamxhz"
        "DTzauSXWke13qNuZJ+ojOsKhJ0T9wn5dIhuTaa2zJdg="
    ),
    "ct": (
        "FqYf+EeH/UpfGcpZs2V9s6EGpzKeLWJ0ei74UUkWMQm+//a8sz32YjC49nJc5xn1j3EZbolb78l1TZ8EJJRkjIim7UxM8T8v"
        "r59lHeedrgd3M8sjX53ORIl3/ULVSGt9/fbXvZFysUJHZV008QUk1GlHjZqWOfNNKs3m48BI1Sswi2YkX+mijN55g7nRTAOz"
        "dxX+OXDNNXNHca3XqptYz7Ct+MYT3q+ysx9uXINk1DNOk6+OSUP6lHzGdmdEfP/QNiNa+up/YDyy6id7l9rfgup0b2snOW3Q"
        "jIXP+TBKLlzgVx/eLpJnFryfjk1HS06P00sNwoN2IE6jBtMOmm3YglC3mCPncxny7zp3cE9And6L622xvkqfJa4uFZOd7fGx"
        "GlqlH8/wQGi0bUL7uv0kmCZMyk+3iw8qsWLH71aYdaExSLmksLnaF4fKCnAz4+yhNHHby74V408rUGW5lf4iHCt6wVAzTRTm"
        "jtxeBJZj3jYvro014kwgLF+tIVPNBE6pYqOI8DDNxd7Bw0Ixg7Fzwysi9YAK5F6OicjuRhfOJOYPJ4v9HqD4+pJIa2+EkSfa"
        "mb575MZh4romZp1qz2GaMwVoCWg+JKLynjO+f1+axmhpfllIjpuGhZVs2Ht8RxCdYDICwgFHLsgp6mSSLk0OrdSktaj7BuD0"
        "vyWlnO1UVXOI3NkbOHy2FIWX7fhKIllYAYUcpLnp4Jb9/JbyRErJ8SR6XmQHh/yiPj6yHsEFnEKmWANEHfASeQE8RI38Pu38"
        "M1Xu4fUQCGoRX4VMNtt5eoXt4ZpHOjPnmoD29/ZGfhsNhm/g5XqKvTeZNKampJL18yWU1D3i7C7qgUh5gbtjlL+m31SY10xt"
        "siAqY0ijJfvJBrjoILsAZZou4SdAsUsuNvTF2rQRwM0JbF5juk1Iqp6Ssx9E3JfA/vZhvPTbiV8XRhPZ1e2eg2ZXdF7J3ux6"
        "8nPOyH7w6vgF2hvIQBYIgQuKhvlSxjJtCfyNHX/YO06GLgUFjod8BWzFRl7DGSsDpMM8xrFlWNJILV+EUYy7xSaq5uiEAxfv"
        "s6GYLD0XGe8V0Q+LB3xcaGgL5tPZLoaqpus3jPBVnUkyVxR7VXMPSaBCMlrwZrT5dBuf/11Hly1ayvUra+pOnjVO+USLYvbS"
        "oTF2daki4U4xV41sq1oJpxqycNhlFRuKtMYStf1dzJfkVBmhz7a4ua7GD2JgIJj5HwfCOBhmV5Qcehjk1+4iDwItX//SkYU7"
        "nAY+VhtxdveiNc5FvIbORxgIbflTbFpfCr8EwKhNgr32lVKt4xNUM8EKG6adaIlp5tnc5U07Oq46fyq5BOZX4/sFJB+sEQqg"
        "fmLMOZHX0NYym1q51p1zNsDRSFiMnwkhMluF31/TDbgKVqNyQ3IVNkGWGqfgQr8mRv9GAiwFnVeUw6S3+QxBDecaUjHdm4O7"
        "0Oa9qxv55i8="
    ),
    "ss": "tAjV0RVxPwqTBH276oMuQ0B4dobVmpotEGvWYroKoDU=",
    "ct_n": (
        "lqxiQ8mxJyvne5daQEi/AP8sSPlKNIM2JEknOIDUXlS9oVcpaCv1kadDgqcIvreBGMqymtdKwvQFunIAdt+1cYjcFoSHzSAI"
        "H2v0EvJX3qA0BrI6anUuR4uk75x8D0gQkh+jJUW+ZNxdnxjU4TIO/GUIFUzaNauRLQWeApGhFQrgoQ2l49e9IhqFHFmN9NCx"
        "jaqSCXZVYJnRwN5OIi1TBNRPqcub1P/hV2ndbEeT+oCfUmTPD+vKS1l1uih2OXg6ofS2Rf96ANRu57Gf7Bez6DvK9DYdU0nj"
        "DOq2DDhraw0bkNizNu5qYnrSo4Zwy1ETsPtKwt3EJQCXSD/v0YJnDqQPD0XM6Que1Y2vrvZX1k4l/WaSppchmU59ALSUkgXr"
        "5MT5xG7loQGLIgom2Ari0rSGNy6XTXWyCgBbFhatHhPRYpFcwk8nRnDR5ei9NFh0p+fJdZyOQ/8zaJIAc5phM5X3rnjXPGp7"
        "kPZatRHw3zxdyoXQuUMLTpcJhxX/gjthcyF5muoKucciNHgDOex7VB1eb4wVURRsJKZUEYEbI2dMJhIzVs8jM1E4LDmUy6Xc"
        "bCWgfhuprzPsoYu6PpeTXjq98H6foyzs8kHnyvxlkttO5If/K5ikpHgF3uF/2TRI3JhFe3U+1Jle5rG/qf8dOGyR85bKj0jK"
        "tbCaeC7DthaoemRIqWI2xGVUE691UyPTao2y4WUJRUSJ5uyDYpEwzSpUgXkYrzYsgxg0lLS1kNuvac85nT4tw+nAwSJPFI5l"
        "72goc0Grcq1Yrfxpso4n6R67+DD6xTuU92LwHMmxVhrjXxbtq/Uf8WTBMJ0f21LNK/7bWkkutly5/Ia48F7SbRMjP7Cj6zOp"
        "3OLPmOZRbO5C++HpfiCrbJll9Yo3fcc+UwZnq49F5qcLI9tQ8N9BFzLYrNq+UMUa24hsDlpSltSqGxOjNvDBeBL3n8aUGKfY"
        "kBxWj0EO/yr3S6rrgzb0bKF+FOBgzi1FzbN2KG7si4vvpauAJYAnIKHnOTr1edsT6IZ9Q9cR5hsu45UHeYSkUKjiUTBABoqT"
        "F5a8PQBptW0fBi/D3WGxsZS24fHRwFltRT23t1kqb5+KxVdqhVkGUSIAI0xA/JvZ3pw9YpHDG15ret5HOjeHqrDJWLPfdhiK"
        "huz546sG+W0exRjBvzNmvvlEZdnhpp6ybbng8IVtJ75QpSuwo6FwddZggP4dO9QhItZWzMOlVuBPkT+vlkEUOTGmQOcvq50A"
        "MDjJgsrIFC5WE9uqudQTkFd6/nOsYj98GSDL8f61yFzEMzAMHFV50CDVSR7dbFAxF7nE1ZhDiTiDHlw0HpyGzQDdjUMgtlb5"
        "q6nw5VJyTjgo/C4AlGEhZjrTrZiiXn0wjaGgNHxNz8eY45UnCtB8/fD/jjJ42uIKsmZM3zCl0Ov+eh55nsRLUU4C8r6XONTi"
        "gDa0d2vUBAg="
    ),
    "ss_n": "57z4mf6122nRF0Gog47P7iU+gLdtajWvRuIg6B3EHa8=",
}

ML_DSA_65 = {
    "id": "kat_MLDSA_65_det_pure.rsp#count=0",
    "xi": "9pZIQEjsIfls9QpW0HWcRI83eXUvA4PTdElpBpTPemg=",
    "pk": (
        "5Q0D//Ozpwlhq7uSo5AAjewSg/YD9QzbqqPQC9ZZvHZ8PyTshkzrB7hlqhSGR2mN+OY/JExN4Ir/wCEPFWD2SCKWGXJGPkA7"
        "vpfOelOfwBNSdVitgkICqQsemgRdiaUcOjHQMw8gmdD14Lno3o0eNAyR1qD2HLimVI4mFKG2oq2A9OVn8PE0cAsVY8yqtx8o"
        "579QmFjYUhgWbdmg4d+tS+4YC0za9uN2I1WPZP0STT11Q6reCyj7jxkxWc6n37FyF0tsJTdcnBkDY2v6pBeRsfLxYVgCCAah"
        "2Vl59nikaiCah4A0XS0JLFK1drXiY+hwVwzBCEBYZ2+92yyTvIf9gakPcIHAT7KZQV92GWZhSu3upAOG8NvpdRKVbD8Ww+IQ"
        "o2Tekm43N0Y32V0EIN5/L3I2U5Km1DkgGHYs1qpNbsYp9tBgWrhoYqNMPx+1VpWuNec2QEBEqtYX0ZLo/wehb1xikcLtsL8d"
        "YBprCPHJtETjFXARMSTNIO6ymdMKRUYkOp8g7Tb6lj7asvSUzZL3ZmM7lyN8zDSFOH9DRIOfRlb78et/TyRxL0MvO3TfMldH"
        "QFvJ7jn0L4dlMyLx0jySyYGVP8EHVwBTzka2dBQQqZzbGIjTOUPhkcCjlQhbnRSj+9xYo+oWcGyTfqRK68l2TfFCAQ6rAixA"
        "so5j2oU64DhDv+Au7TUzFXHsiYlcHqIlbLdZHmPHpYcEVWY++YBLhNUkRwoIzam7v9B7plN0cxY88DCEnF8xZ5xhDVbV4xwO"
        "c/IwmNOhndOa/lB+JdBT59Ww2bGMU7FTwtWxYlWJOabiTnugLR1za2pMk6TzvFDUqxbvNQtBHm9Kc0vgMkL9Z+5H607D1FPR"
        "qSVMTgL2ijZnAu8odZMrchJe6B2hwQoza0pJkKXjbwtZsA40ccVjFNbpK8t7rNYhn9mcHKUMM0LOYs2YvpRYoXzyQ8YMCbEG"
        "6G+rNFqZf3tG1KwceQw329uT0pxTKlywl6MPktR8Rg7INFsXul23fBplM6lEijU2Y/GHUXo5lYOy+YywqNw/ZNBJcWpciu5u"
        "3gu2lY/HDy/OcG8gYi016f8qHDDdXnG+vkoz/XSrdozTSi2exZhFqPOLXdbAAItniHbkk8mvwjlqFnIRQoA/HzjFeQNoWKJa"
        "Ghq/rpTH3B7LJsHTtNliCb4jg2D8hVTjP1+6K5Kr8ge2d9QztYJ1NmuDa+cIHXtQ+dKWUsg2/7EVljF8s6qvTtQUQSmPs4b7"
        "2SNyJ7t1Kb9e63cRvGk2zU+6mLhATdHoZQo6G/KYaYNXl7lTfbGvwPQzmtOylkARAFIN1D0s1FNTTx33dsCqGE8uXLZY/uW1"
        "S7RNnuE7NIbDex/qQoQyfOFUAOzZOgwBhS0EXDx680jUeGhFmE/eDQhsEV1Py8/uc2iO9hYBzjVg1ttvCmvk3AVkDFdaLSSm"
        "pbXWl+zDpoRL90BfaMVFCx1ntd/PzI+HjXh/f1fTh1/fNF8XMPnnST6aSsrLe4gysBQaG9sIKpXYvo9SgANfQvBfns9mP6XQ"
        "OwVsQ7w5uhpvc3WWHE6UgwxR4nbMS8gmUY+E9R6OpvWaPRKtnV7yym23AVXKvWVXE2QaiFVRq2WjWNLnuvaKOVZ7oieNlJNW"
        "KqTpA61vME0nUgZNjbyKK/U+JNL3fkfaHQUZISFI2vLLmUU7RMczfbRjkKbWfQu9+pgL/KNdaN8ekEFo9k/WsicQ6si6uHV6"
        "nju0PF+QeUnN3s8DIdcooru3TmzElZwVFsmymBFQ8FTsBb04ROmad4jV0BjC3EZClpBZYBppKJY1APCFyEzaZFTfxL5juoIY"
        "IQRJnXeODpmOHPkIbXmQ7QNwR1PxDLTfYHY0Hx1Vaq6aFa3kWedIF/odnLjQqBavxZR8gTaL2pw6WHVls8ORmb8+JCVMYBxD"
        "ACw3uD5DEW8l6/sgbQgdgcNGGOU6uo72WvHF3/QCg51xwDGct2lpIgiMuas/Lu6Op5IorhLcmqHbms0TCdcXG0enBD/nPPtO"
        "axGj2pEPXl5zTCa0GpNFKEjnNdFnmWOkE9aaDSdboQaT+5Itj4wyMQ3ucYElsp0TZiATmeslO6Wh/tCZ+d+R48WcFt/o9wdA"
        "RXYFJzJ+HlhSU3rpaWJVO2nYXalipaZ4nRn+WF4lcBITKnyR/q9MWKT6fBJv5oQG806/Hzca20swUUsY3W5+ZZ3wd3YjjkjL"
        "f6vQi19qn8Baf/vwGaJjLCV795Y2mUyAf6L1E/YJQIAOKQwuaE2RYoWLyhOKhjTiOxu0tJ93r363F6ebLyk/gUhJqNfgquKn"
        "NCWTlcS/ajqN6zegY4Ehqdz4Pf7NDGxYqOsFxHBuOVqGnDzgHULjFGb7oFpF5Bgd3bF3+iD+9Qp3DZ2hTP+1WsPoKb2TLv91"
        "nuruvTfT7LOPIEZSiv/JabAI0vn61ay0aC8RkBHLtP+xHa5dkd/p7HulFCCG5cCes5jjaFQTo5SzhaXjd8SZaEjYYu1/cLO7"
        "dc/4jPiduRRuqCtWEVaai7Z9yVq0E1wqQn8SuhybUM+G0aI4ugyZw9gtvJDdD3soFJTfGiWEjsrf6RWpWkMke8WlXh4tkO0F"
        "9wvosuX8nVs="
    ),
    "msg": "bbvEN1E23zsH98cOY54iPg==",
    "ctx": "SAxljAyz4EC94IQ0XO8N9w==",
    "sig": (
        "Dp6QPv6dUe9TVrl5TlLPVcv95YWW9+gfqv4pIZKCeaqz7JupoHLCxorccvDClG/U9a20xyKi8OVWdvHHnL3B2K/RnPhhVrX3"
        "+NASzYJF+wP+MMYupjEQpyJ4I2eYMDCvrdFjkbNF8A2cbZdQrktwmdX8tmuUSiE89IgfoPgG4pNVToaSBePo6avmfQdJ2Mcv"
        "uILT89FRLzB3hFeHBQUnvegto8/Irp0Kt4JygaFPK/YTHLedJ/THgdDo5C2p/ey1vhl5yczeF/HMW5Ty+OCpPT4IXscuIhyn"
        "1r2tcSosZJt7/dCtAjBt1Jy9wpjUsj5z2wWqaosVFDluMDL+US2M9YxbYaVG4d5W2YrZjG1qgduYZVZqfK1NUzyx13cPKAeB"
        "m7Q26JBF+Kw2OqavJ7W3SI0jA7ELpugOYewLiuWFDJbt6vl+0uvmT3ffhwjDG8b21FmN/Hx92xKxa4WtrH2PHC2WGYPKLbgE"
        "4wYsjpTTfJcYGr+hEVKa3xXtBNxAPpdY1UXO5w6GjCIu1yTQ+Ug9fSxcRK0oZiOC7EC3lJzgimrLadBakNUs5IfOj7a15bka"
        "IYfQIezkdwDy+OtdLrjoYADxS5eKBRAJxUqx8bkNqh0NZxEknXZtkaX4yGBFaL/C9SgixS1iX0UcGUpc+kFRtP2oGHPl9EQU"
        "Q0TrdUEAM+K6PXeFDK5LNElZQ6OIDic7uIQila2FPRxwVaKQ5coIS6mTwYgQqFOSugQrfv4eACySNyOkPMey3tymEjvuvElo"
        "zkK7ENGREbP3f1GcGen8gRFhbf1TsB7uQBr5UwVo/+mBZOLS4iCmZCLvsAvJCwfkiATGfbRPeeBZWtSjHpt2DAHp/COfq/VY"
        "NzFtehP9Bp+GVjk257Ycy30N7kvZPmsSnH2pKkUWt/omPLa/WUAigxKXO0QvMF3PxA+EO+LajWk0UPns8zm8lBn1Q6L6DU3H"
        "eTrO0R2OUNaAA8K9AhKnrxpc/X6OVPFNjGJ7PNlVj7qzO/YgnkheWanJ/uzFTKot/s6Di5ezE8FpzydATPxtxRdIVjACCOEC"
        "RBg7L80o001nIo65YRuPc5oRIXjcFD/aK45kQX4PTBj4de/zTsgKD+BLUBZHM4Wj6ce4Y7ScoF68OjRySplIjro91JYI2jNa"
        "Ks2mCpHzuPsEyjDeSBwOHxevLxMiexgzRSULUjJX4ItY4V63siqCzlgeYzEKNc/7FZ7Cduzz+sHM78Izid5sKbfkRUmHYRsx"
        "X7doTHI3a6RIFhzYK8apJAlQl8iXtBR1DfN9NLvShEl5+732gRCvw+FMznz5Y8N1yS3PZeTWMwk7uAlAUvjp5sTz9lDpCC9z"
        "RoZ3lEdKifdOVDcUpa0DugA//BxxbVb7YHh5jmitQHLX21CZ0Ossf/3yG8tDCJZcE+DhvTa/q3xCZ/oMAqw5PnCIO3NAJ7mw"
        "h9q80sm7Zdn3aerpNMKwQVsqXy15M+JZulGyvYL8CKpJbl/TxMBmjkMt2kibS5YmAGoqlYwHWGJFRCeTNkIeksR3sJuWgTdo"
        "a2jF++6EYpssa1UGrUIZju/m3+1Sc/10OH+uyXISCur4W+wUkSkzYuuyvaJOt7NjLAlQzxb3k/szPKACX1fOUbFBzcNEVr/O"
        "UwtBewC1dMvU0Tvo70j9MyaUj3rcWx8DmPzwKB4EBAez+bf3nk8eifteyjTJs4ew2zpemOJTuZnNTBYW/X4/0mqolsIRj+Hp"
        "JJnd9f8RJTd6WZh+hOAxgSYvethDthtkUNkjcsvKwWulubjY3u53gfhBZy2R8zbOIg+//34y1hyY9SSeZ7/vNe3D2cNjC0+V"
        "bETEo+k/hRx3dbZNdZ8mMrXuOPDz//AWof05mbUMTx3oLOwPEcNOSU1RrTTfe9gSiZ2uxd+9G4QFuvJh4dp4mLodwc7Yr6TC"
        "PWYoWdimggW2K2+QjiQR06El5xRC90/AiwLmUZWmPxmOHLbECOahsVfSpLhaeSysKgfdrqecWFjODr3N6rGZSD4jZ/m0eFNE"
        "RH3KklHrPfkGz0k0IoxMAoSV8A4TByLhdSQ3kWgL9UDKYOTBfJEGN/bbNcFnDVxtfoJk+pf6VAyHDIfRqkQVme5v5sIuq/j8"
        "Scgks7+sZJGiNJ6jPEy2yxnA+st9DNti2yulalwzf5/ntKtZNidfmP5Ie2xIBb5wn2dFbK69MENzell0sMqTKxnENb7QEBDE"
        "YX01DYA/8i27s0Qhidn4Gg5bR+36TqCoMvsU0nsZviJrQpEO0QrC1ASr2WJivePDkbI4+pvP03NCddrPxBGBHgGxF4dQx0X+"
        "lGJ0DD+R8TBTWn/ra+JbNKMxRmbrrvAfXsi2Vq3ZuH5ZxbrnEVPpG+IVBfJyRgNexsJWnX8WVyOhac2hiqrbFIHYSXbaAZoU"
        "mwL1sfm4wJCoEV7LO+ZUI6oUYeNcgEpBGxyxkahzQjPKekKsrujrT0UaowiblUKjxl6So6dLFEQ9Go1yhG+nhGCY7DIz0lU+"
        "1KtULIxCXLq7lLsv21IjrLmZujGhmg/5tkb8QpeDLTZyLgrwwDiZyM4Xx5MDsJFRLwEGtChebo+vCTJfC8PY1yRXXJVWkxpN"
        "w0yT2Bp58lGZ7XEqlzCWMLVjWuBn7dThe+nU4ZSQX408fGrZO9IZvqx8OJ9i+K3sMKcry8FehYa54rBXFA65X63ZYDiSMO2z"
        "kl3Zp964b3JQL/zrvpplqZ5s7PYYI/nNMm8pi5QwoPR25XCTiV4msDdcMnspw+N/FEdK+BXdkM+8jmH8LwtSiz2w5aVAfbmc"
        "PFwoYuO2gIQwXpPHnxuWKmpdKMdpaeHV0egq2DHuG2I4IIiQ23AGs5V3HjTBoNJev2USc7o9SVQXAzFjtG9qF2t5xEbJLrvt"
        "S8hPDh7/wLONPiac0585JHLxY0rNG9F4qOpaVOBFxF4Z1UvChun7DjJMMOAFk1Kaoo97ZiiBRLptuf+fNoVllEv3duk+J3Qf"
        "197YkUS62KPBKHSYlz182NiD/jAS22r3bp7h38GJ4ef5fx4jsojFd23nMbKGqA+jSbCds1mlz6/IPEbeO0PP6elicOGHSaOv"
        "Rg0TEsTrBYk18T6qKeiDaHeohzQ1aoFrMZF4d2MQCGVRADIn8LGRqmBYz4IJ3nnPEG1XxLdp8UIFTMwWsDSL9iDxoo3Kj/Au"
        "Ef2ufNFVODtZ5KzfxTeVeGt1m1oDq7GyWtzPcR4wzht4Pb91Qh1speFGxt7KDaMHhXXJNgYxMcFPV+xO71+lBH8+O+b+LTlA"
        "h4+QXuXH5Gz6Q1dbZLal9x63FeLPGqUU3xOCNDF7QB1X8aYf8IoO7aprQ3DmEANTL/+r++No60ZSMLfyXIC/c64jm53rjOVL"
        "ZL/AaCDAFQeqLZqKap9e0tiRK04bQxkrruHhDfHBXIj3+0OBysEkhItVVJI54vGsx6Q1LErrVjB9Zw6lIheycjRe/6ujfATc"
        "z59NipyJ4tUe48/YpT42klaACvQOIw0sVUEU6Z2ydej43DStby7MqIbgGLzpgiBBqRltTv6eyVKuL/T8glYISSMHUpWoIDSQ"
        "mULIe2Tlu5Qern3my6JUDFlLPx9KJNb8JdEYKoi55txGFqOnbQNSPow0xxaE2MXlvhNEAt9hU+kjD24BPsYTHlrzWkuMWqIn"
        "skUsyCMrvJBNS4Iu7d+WyJsWr4CFav6dWmb5FLgbLVLvxFHm89ks+6gHCps5V+dNt0nBuU3FrNlQtqVTkJIp/ZFqHP1WcB9X"
        "oJcSJAcOsk03GKZl3am0ypFx/73+pV7xlPkezGHQTPUGjLO35IEHO5OW6Ow0nlJX25Hw8A2d+dO0ZcqTwVye/vua7QVzQ+sW"
        "myBqoNtg2zGYAYmaK2Un4flyY0RFmbVV2rcA3/wwLWdnOF+YLHi0kyyhKhbVdXUrkVsDTdafNHPFIJf8YHjdfvZGK4IL7mWY"
        "BRA2cjUZHZAAM/E7fivUPNQj++1HqlQ3f2e+VYPBw4XGWUSb8gIDJQLS20AQHNtVQ9386mUsWzxxHZMsLCLsZyVrGU5byrOu"
        "BU0Csi5xk8fDKqOpWIIs1ZFxF/U1aa1CpbMKZHgTVdIv87twt2Qwt+jlON9MVBGgnm/sxAhthq6/5JcxUFbRFmAWW0c4MwLW"
        "Rhp/Dy0MbolMM8ccHE6qcV1V7Dabv32GYjp7K3a+07E1btgPih7ncimrbN3ZbqpyT6dAtICub7F2jGetxc6F3PD0YCb9zbTz"
        "RsYMJHj22ksz/AagZF+1YpuA6W1veKpK4cXO/vskkS3oQ/UJ6WCfyWm+mmbCjVYI1rzca8DmyldSFC4ZZnmTX8dF8ahP7QPU"
        "cnbin/76YbQjK3N1g8HC6TdSp6y6wvdHaYubAjpAABIqcGx1j9MAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACA8TFhoe"
    ),
}
