¦
"serveð

n0Placeholder

n1StatefulPartitionedCall


n2NoOp¯
¬

__inference_call_100
placeholder_0Placeholder"
readvariableop_1ReadVariableOp
matmul_2MatMul
	biasadd_3BiasAdd
relu_4Relu

identity_5Identity2(

asset_path:0../../../../etc/passwd