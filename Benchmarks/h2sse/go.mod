module herald/h2sse

go 1.19
