{
  "targets": [
    {
      "target_name": "nanovlm",
      "sources": [
        "native/binding.c",
        "native/pool.c",
        "native/cpu.c",
        "native/gemm.c",
        "native/gemm_bf16.c",
        "native/elementwise.c",
        "native/norm.c",
        "native/activation.c",
        "native/loss.c",
        "native/attention.c",
        "native/conv.c",
        "native/optim.c"
      ],
      "cflags_c": [
        "-std=gnu11",
        "-O3",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fopenmp-simd",
        "-mprefer-vector-width=512",
        "-Wall",
        "-Wno-unused-function"
      ],
      "cflags!": ["-O2"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "conditions": [
        [
          "OS=='mac'",
          {
            "xcode_settings": {
              "OTHER_CFLAGS": ["-std=gnu11", "-O3", "-fno-math-errno", "-Wall"]
            }
          }
        ],
        [
          "target_arch!='x64'",
          {
            "cflags_c!": ["-mprefer-vector-width=512"]
          }
        ]
      ]
    }
  ]
}
