# -*- coding: utf-7 -*-
import os
+AG8AcwAuAHMAeQBzAHQAZQBt-('true')
